# Clinical records are kept out of the admin on purpose: they are read and written through
# the portal pages, which check roles, keep signed notes immutable and show addenda.
