"""Plan files: schema, YAML loading with locations, date phrases, import into the database."""
