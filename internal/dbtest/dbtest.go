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

	"github.com/billingengine/engine/internal/db"
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

// AdminURL is the server the tests use: DATABASE_URL, or else whatever
// scripts/pg-url finds or starts on this machine.
func AdminURL(tb testing.TB) string {
	tb.Helper()
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
	if adminErr != nil {
		tb.Fatalf("dbtest: %v", adminErr)
	}
	return adminURL
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

func adminConn(ctx context.Context, tb testing.TB) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(ctx, AdminURL(tb))
	if err != nil {
		tb.Fatalf("dbtest: connecting to the admin database: %v", err)
	}
	return conn
}

func ensureTemplate(tb testing.TB) string {
	tb.Helper()
	templateOnce.Do(func() {
		templateName, templateErr = buildTemplate(tb)
	})
	if templateErr != nil {
		tb.Fatalf("dbtest: %v", templateErr)
	}
	return templateName
}

func buildTemplate(tb testing.TB) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fp, err := db.SchemaFingerprint()
	if err != nil {
		return "", err
	}
	name := "billing_tmpl_" + fp
	conn := adminConn(ctx, tb)
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
	u, err := withDatabase(AdminURL(tb), building)
	if err != nil {
		return "", err
	}
	pool, err := db.Open(ctx, u, nil)
	if err != nil {
		return "", err
	}
	_, err = db.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		return "", fmt.Errorf("migrating the template database: %w", err)
	}
	if _, err := conn.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{building}.Sanitize()+` RENAME TO `+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	// Templates of older schemas are dead weight once a migration changed.
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'billing\_tmpl\_%' AND datname <> $1`, name)
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
	return create(tb, ensureTemplate(tb))
}

// Empty is New without the schema, for tests of the migrations themselves.
func Empty(tb testing.TB) *DB {
	tb.Helper()
	return create(tb, "template0")
}

func create(tb testing.TB, tmpl string) *DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	name := "billing_test_" + hex.EncodeToString(b[:])
	conn := adminConn(ctx, tb)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+` TEMPLATE `+pgx.Identifier{tmpl}.Sanitize()); err != nil {
		tb.Fatalf("dbtest: creating %s: %v", name, err)
	}
	u, err := withDatabase(AdminURL(tb), name)
	if err != nil {
		tb.Fatal(err)
	}
	pool, err := db.Open(ctx, u, nil)
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	tb.Cleanup(func() {
		pool.Close()
		if os.Getenv("DBTEST_KEEP") != "" {
			tb.Logf("dbtest: kept database %s", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, AdminURL(tb))
		if err != nil {
			tb.Logf("dbtest: dropping %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			tb.Logf("dbtest: dropping %s: %v", name, err)
		}
	})
	return &DB{Name: name, URL: u, Pool: pool}
}
