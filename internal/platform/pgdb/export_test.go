package pgdb

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/billingengine/engine/migrations"
)

// MigrateThrough is Migrate stopped after the given version: a database as
// an earlier release left it, for the test of a data migration.
func MigrateThrough(ctx context.Context, pool *pgxpool.Pool, version int) ([]Migration, error) {
	files, err := loadFiles(migrations.FS)
	if err != nil {
		return nil, err
	}
	var keep []sqlFile
	for _, f := range files {
		if f.version <= version {
			keep = append(keep, f)
		}
	}
	return migrate(ctx, pool, keep)
}
