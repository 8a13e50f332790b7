"""The registry export: a de-identified minimum data set of the clinic's treatment courses, for pooling results
with other clinics. `dataset` says what a row holds and writes the zip; `services` runs it as background work;
`views` are the managers' pages."""
