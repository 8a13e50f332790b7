"""The clinic-wide FHIR bulk export, in FHIR Bulk Data's layout: every patient's resources as one NDJSON file per
resource type. `ndjson` writes and joins the files; `services` runs an export as background work, chunk by chunk;
`views` are the managers' pages."""
