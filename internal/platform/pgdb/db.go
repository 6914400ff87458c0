// Package pgdb opens the engine's Postgres pool and applies its schema. It owns
// the connection settings every process shares (the numeric<->decimal codec,
// the application name) and the migration runner; it knows nothing of
// billing itself.
package pgdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNoDatabaseURL is returned by Open when no connection string is given.
var ErrNoDatabaseURL = errors.New("DATABASE_URL is not set (scripts/pg-url prints one that works on this machine)")

// Config tunes a pool. The zero value is usable.
type Config struct {
	// MaxConns caps the pool; zero keeps pgxpool's default (max(4, NumCPU)).
	MaxConns int32
	// ApplicationName shows in pg_stat_activity; defaults to "billing".
	ApplicationName string
}

// Open connects to url and returns a pool whose connections map Postgres
// numeric to decimal.Decimal both ways, so that money never passes through a
// float. It pings once so that a wrong URL fails here, with a clear error,
// rather than at the first query.
func Open(ctx context.Context, url string, cfg *Config) (*pgxpool.Pool, error) {
	if url == "" {
		return nil, ErrNoDatabaseURL
	}
	if cfg == nil {
		cfg = &Config{}
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing DATABASE_URL: %w", err)
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	name := cfg.ApplicationName
	if name == "" {
		name = "billing"
	}
	if _, ok := pcfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		pcfg.ConnConfig.RuntimeParams["application_name"] = name
	}
	pcfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		pgxdecimal.Register(conn.TypeMap())
		registerNumeric(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("opening database pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, &unreachableError{server: redact(pcfg.ConnConfig), err: err}
	}
	return pool, nil
}

// OpenWait is Open for long-running processes: while the server cannot be
// reached it tries again, waiting twice as long each time up to a minute,
// until ctx ends. A bad URL fails at once: waiting cannot fix it. onRetry,
// when not nil, hears of each failed attempt.
func OpenWait(ctx context.Context, url string, cfg *Config, onRetry func(err error, wait time.Duration)) (*pgxpool.Pool, error) {
	wait := 500 * time.Millisecond
	for {
		pool, err := Open(ctx, url, cfg)
		var unreachable *unreachableError
		if err == nil || !errors.As(err, &unreachable) {
			return pool, err
		}
		if onRetry != nil {
			onRetry(err, wait)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

// unreachableError is a failed first contact with a well-formed URL: the
// server may come up later.
type unreachableError struct {
	server string
	err    error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach Postgres at %s: %v", e.server, e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

// Describe names the pool's database without its password:
// postgres://user@host:port/name.
func Describe(pool *pgxpool.Pool) string { return redact(pool.Config().ConnConfig) }

// redact names the server without its password, for error messages.
func redact(c *pgx.ConnConfig) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}
