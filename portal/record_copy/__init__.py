"""A patient's own copy of their record: asked for in the portal, built by the worker into a zip (the FHIR bundle,
every ready PDF, a readable summary), downloaded by the patient until it expires. `package` says what the zip
holds and writes it; `services` runs it as background work; `views` are the patient's pages."""
