package pgdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Executor is the one database seam: what every function that reads or
// writes needs, and what a *pgxpool.Pool, a *pgx.Conn and a pgx.Tx all
// are. A function takes an Executor when it runs inside whatever its
// caller started, so that callers compose several operations into one
// transaction; it takes a DB when it must open transactions of its own.
type Executor interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// DB is an Executor that starts transactions: a pool or a connection, whose
// Begin opens one, or a transaction, whose Begin opens a savepoint.
type DB interface {
	Executor
	Begin(ctx context.Context) (pgx.Tx, error)
}

// SnapshotDB starts transactions with options: a pool or a connection (a
// savepoint cannot change its isolation level).
type SnapshotDB interface {
	DB
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// WithTx runs fn in a transaction of db, committed when fn returns nil and
// rolled back otherwise. op names the operation for the error ("finalize
// chunk 3 of run 12"): the error says what failed, where a bare
// "deadlock detected" would not.
func WithTx(ctx context.Context, db DB, op string, fn func(tx pgx.Tx) error) error {
	if err := pgx.BeginFunc(ctx, db, fn); err != nil {
		return Wrap(op, err)
	}
	return nil
}

// WithSnapshot runs fn in a read-only repeatable-read transaction of db:
// every statement fn runs sees the same committed state, as a report or an
// audit must.
func WithSnapshot(ctx context.Context, db SnapshotDB, op string, fn func(tx pgx.Tx) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	if err := pgx.BeginTxFunc(ctx, db, opts, fn); err != nil {
		return Wrap(op, err)
	}
	return nil
}

// Wrap prefixes err with the operation it broke, keeping it inspectable
// with errors.Is and errors.As. A nil err stays nil, and an empty op adds
// nothing.
func Wrap(op string, err error) error {
	if err == nil || op == "" {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Code returns err's SQLSTATE, or "" when err is not a Postgres error.
func Code(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// Retryable reports whether err is a conflict between concurrent
// transactions (a deadlock, a serialization failure) that running the
// whole transaction again can resolve.
func Retryable(err error) bool {
	switch Code(err) {
	case pgerrcode.DeadlockDetected, pgerrcode.SerializationFailure:
		return true
	}
	return false
}

// UniqueViolation reports whether err is a unique violation of the named
// constraint (of any unique constraint when constraint is "").
func UniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.UniqueViolation {
		return false
	}
	return constraint == "" || pgErr.ConstraintName == constraint
}

// DataException reports whether err says the data itself was refused: a
// value out of range or malformed (class 22), or a check or not-null
// constraint. Such an error names bad input, not a broken database.
func DataException(err error) bool {
	code := Code(err)
	return pgerrcode.IsDataException(code) || code == pgerrcode.CheckViolation || code == pgerrcode.NotNullViolation
}
