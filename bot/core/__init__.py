"""kefu's kernel: settings, encryption, the database and its one SQL dialect layer, batching,
message catalogs and languages, logging. It imports no other kefu package, so every floor above
may use it."""
