package pgdb

import (
	"context"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/billingengine/engine/migrations"
)

// migrateLockKey serialises concurrent `billing migrate` runs. The value is
// arbitrary but fixed forever: two releases must agree on it.
const migrateLockKey int64 = 0x62696c6c6d6967 // "billmig"

// Migration is one applied version, for reporting.
type Migration struct {
	Source  string `json:"source"` // "river" or "billing"
	Version int    `json:"version"`
	Name    string `json:"name"`
}

var fileRE = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

type sqlFile struct {
	version int
	name    string
	sql     string
}

func loadFiles(fsys fs.FS) ([]sqlFile, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var files []sqlFile
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q is not named NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration version %d is used by both %s and %s", v, other, e.Name())
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		files = append(files, sqlFile{version: v, name: m[2], sql: string(b)})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].version < files[j].version })
	return files, nil
}

// Migrate brings the database to the newest schema: River's own migrations
// (rivermigrate) and then the engine's embedded SQL files, each version once
// and each in its own transaction together with its row in
// billing_migrations. A session advisory lock serialises concurrent runs, so
// the second process to arrive waits and then finds nothing to do. It returns
// what it applied.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]Migration, error) {
	files, err := loadFiles(migrations.FS)
	if err != nil {
		return nil, err
	}
	return migrate(ctx, pool, files)
}

// migrate applies what of files the database lacks: a test of a data
// migration stops before it (see export_test.go).
func migrate(ctx context.Context, pool *pgxpool.Pool, files []sqlFile) ([]Migration, error) {
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return nil, fmt.Errorf("creating River migrator: %w", err)
	}
	lock, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return nil, fmt.Errorf("taking the migration lock: %w", err)
	}
	defer lock.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockKey) //nolint:errcheck // closing the session frees it too

	// River's migrations must commit one by one (one adds an enum value that
	// a later statement uses), so they can't share our transaction.
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("applying River migrations: %w", err)
	}
	var applied []Migration
	for _, v := range res.Versions {
		applied = append(applied, Migration{Source: "river", Version: v.Version, Name: v.Name})
	}

	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS billing_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return nil, fmt.Errorf("creating billing_migrations: %w", err)
	}
	rows, err := pool.Query(ctx, `SELECT version FROM billing_migrations`)
	if err != nil {
		return nil, err
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, err
	}
	done := map[int]bool{}
	for _, v := range versions {
		done[v] = true
	}
	for _, f := range files {
		if done[f.version] {
			continue
		}
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, f.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO billing_migrations (version, name) VALUES ($1, $2)`, f.version, f.name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("applying migration %04d_%s: %w", f.version, f.name, err)
		}
		applied = append(applied, Migration{Source: "billing", Version: f.version, Name: f.name})
	}
	return applied, nil
}

// SchemaFingerprint identifies the embedded schema (River's and ours), so
// that a migrated template database can be reused until a migration changes.
func SchemaFingerprint() (string, error) {
	files, err := loadFiles(migrations.FS)
	if err != nil {
		return "", err
	}
	h := fnv.New64a()
	for _, f := range files {
		fmt.Fprintf(h, "%d\x00%s\x00", f.version, f.sql)
	}
	m, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		return "", err
	}
	for _, v := range m.AllVersions() {
		fmt.Fprintf(h, "river%d\x00%s\x00", v.Version, v.SQLUp)
	}
	return fmt.Sprintf("%016x", h.Sum64()), nil
}
