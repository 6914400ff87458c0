// Package dbtest hands tests a fresh, migrated Postgres database of their
// own. The schema is migrated once into a template database named after the
// schema's fingerprint; every test database is a cheap copy of it (CREATE
// DATABASE … TEMPLATE), dropped when the test ends. Tests therefore run
// against real Postgres, never a mock, and never see each other's rows or
// River jobs.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/billingengine/engine/internal/platform/pgdb"
)

// templateLockKey serialises template creation across test binaries, which
// `go test ./...` runs in parallel.
const templateLockKey int64 = 0x62696c6c746d706c // "billtmpl"

var (
	adminOnce sync.Once
	adminURL  string
	adminErr  error

	templateOnce sync.Once
	templateName string
	templateErr  error
)

// adminURL is the server the tests use: DATABASE_URL, or else whatever
// scripts/pg-url finds or starts on this machine.
func adminURLOnce() (string, error) {
	adminOnce.Do(func() {
		if u := os.Getenv("DATABASE_URL"); u != "" {
			adminURL = u
			return
		}
		root, err := repoRoot()
		if err != nil {
			adminErr = err
			return
		}
		out, err := exec.Command(filepath.Join(root, "scripts", "pg-url")).Output()
		if err != nil {
			adminErr = fmt.Errorf("DATABASE_URL unset and scripts/pg-url failed: %w", err)
			return
		}
		adminURL = strings.TrimSpace(string(out))
	})
	return adminURL, adminErr
}

// AdminURL is the server the tests use.
func AdminURL(tb testing.TB) string {
	tb.Helper()
	u, err := adminURLOnce()
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	return u
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// withDatabase returns base with its database name replaced.
func withDatabase(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("dbtest needs a postgres:// URL, got scheme %q", u.Scheme)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func adminConn(ctx context.Context) (*pgx.Conn, error) {
	u, err := adminURLOnce()
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("connecting to the admin database: %w", err)
	}
	return conn, nil
}

func ensureTemplate() (string, error) {
	templateOnce.Do(func() {
		templateName, templateErr = buildTemplate()
	})
	return templateName, templateErr
}

func buildTemplate() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fp, err := pgdb.SchemaFingerprint()
	if err != nil {
		return "", err
	}
	name := "billing_tmpl_" + fp
	conn, err := adminConn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, templateLockKey); err != nil {
		return "", err
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, templateLockKey) //nolint:errcheck

	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	// Build under a temporary name and rename when complete, so that a test
	// binary killed half-way never leaves a broken template behind.
	building := name + "_building"
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{building}.Sanitize()+` WITH (FORCE)`); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{building}.Sanitize()); err != nil {
		return "", err
	}
	u, err := withDatabase(conn.Config().ConnString(), building)
	if err != nil {
		return "", err
	}
	pool, err := pgdb.Open(ctx, u, nil)
	if err != nil {
		return "", err
	}
	_, err = pgdb.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		return "", fmt.Errorf("migrating the template database: %w", err)
	}
	if _, err := conn.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{building}.Sanitize()+` RENAME TO `+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	// Templates of older schemas are dead weight once a migration changed,
	// but not the few newest: checkouts of other branches testing on the
	// same server (each with its own schema) would lose theirs mid-run.
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'billing\_tmpl\_%' AND datname <> $1
		ORDER BY oid DESC OFFSET 4`, name)
	if err == nil {
		old, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, o := range old {
			conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{o}.Sanitize()+` WITH (FORCE)`) //nolint:errcheck
		}
	}
	return name, nil
}

// DB is a fresh database for one test.
type DB struct {
	Name string
	URL  string
	Pool *pgxpool.Pool
}

// New creates a migrated database for tb, open as a pool, and drops it when
// tb ends (unless DBTEST_KEEP is set, to inspect it after a failure).
func New(tb testing.TB) *DB {
	tb.Helper()
	tmpl, err := ensureTemplate()
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	return register(tb, tmpl)
}

// Empty is New without the schema, for tests of the migrations themselves.
func Empty(tb testing.TB) *DB {
	tb.Helper()
	return register(tb, "template0")
}

func register(tb testing.TB, tmpl string) *DB {
	tb.Helper()
	d, err := create(tmpl)
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	tb.Cleanup(func() {
		if os.Getenv("DBTEST_KEEP") != "" {
			d.Pool.Close()
			tb.Logf("dbtest: kept database %s", d.Name)
			return
		}
		if err := d.Close(); err != nil {
			tb.Logf("dbtest: %v", err)
		}
	})
	return d
}

// Open creates a migrated database outside a test (for examples and the
// benchmark harness); Close drops it.
func Open() (*DB, error) {
	tmpl, err := ensureTemplate()
	if err != nil {
		return nil, err
	}
	return create(tmpl)
}

func create(tmpl string) (*DB, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	name := "billing_test_" + hex.EncodeToString(b[:])
	conn, err := adminConn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+` TEMPLATE `+pgx.Identifier{tmpl}.Sanitize()); err != nil {
		return nil, fmt.Errorf("creating %s: %w", name, err)
	}
	u, err := withDatabase(conn.Config().ConnString(), name)
	if err != nil {
		return nil, err
	}
	pool, err := pgdb.Open(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	return &DB{Name: name, URL: u, Pool: pool}, nil
}

// Close closes the pool and drops the database.
func (d *DB) Close() error {
	d.Pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := adminConn(ctx)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{d.Name}.Sanitize()+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("dropping %s: %w", d.Name, err)
	}
	return nil
}
