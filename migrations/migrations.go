// Package migrations holds the engine's own SQL schema as numbered files
// embedded in the binary. File NNNN_name.sql is version NNNN; versions are
// applied in order, each exactly once, by internal/platform/pgdb.Migrate, after River's
// own migrations. A released file is never edited: a change is a new file.
package migrations

import "embed"

// FS holds the SQL files, named NNNN_name.sql.
//
//go:embed *.sql
var FS embed.FS
