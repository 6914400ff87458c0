package pgdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgerrcode"

	"github.com/billingengine/engine/migrations"
)

// ErrNotMigrated matches a NotMigratedError.
var ErrNotMigrated = errors.New("run billing migrate first")

// NotMigratedError says the database lacks migrations this binary needs.
type NotMigratedError struct {
	// Have is the newest engine migration applied (0: none, or no schema
	// at all); Want the newest this binary embeds.
	Have, Want int
}

func (e *NotMigratedError) Error() string {
	if e.Have == 0 {
		return "the database has no schema: run billing migrate first"
	}
	return fmt.Sprintf("the database schema is at migration %04d and this binary needs %04d: run billing migrate first", e.Have, e.Want)
}

func (e *NotMigratedError) Is(target error) bool { return target == ErrNotMigrated }

// CheckSchema returns a NotMigratedError unless every migration this
// binary embeds is applied (a database migrated further by a newer binary
// is fine).
func CheckSchema(ctx context.Context, q Executor) error {
	files, err := loadFiles(migrations.FS)
	if err != nil {
		return err
	}
	want := 0
	for _, f := range files {
		want = max(want, f.version)
	}
	var have int
	err = q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM billing_migrations`).Scan(&have)
	if UndefinedTable(err) {
		return &NotMigratedError{Want: want}
	}
	if err != nil {
		return err
	}
	if have < want {
		return &NotMigratedError{Have: have, Want: want}
	}
	return nil
}

// UndefinedTable reports whether err names a table or another relation
// that doesn't exist: a database the migrations haven't reached.
func UndefinedTable(err error) bool {
	switch Code(err) {
	case pgerrcode.UndefinedTable, pgerrcode.UndefinedColumn, pgerrcode.UndefinedFunction, pgerrcode.UndefinedObject:
		return true
	}
	return false
}
