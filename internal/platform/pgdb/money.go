package pgdb

import (
	"fmt"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
)

// registerNumeric makes a connection read numeric columns into
// billing.Money, decimal.Decimal and decimal.NullDecimal from the binary
// format, and write Money in it. pgx looks for a database/sql Scanner
// before it tries the wrappers pgx-shopspring-decimal registers, and all
// three types are Scanners: without this, every amount and quantity read
// was formatted as text by pgx and parsed again by the Scanner (a sixth of
// the worker's CPU during a run, where the invoice lines are read back for
// the events), and every Money written was formatted and parsed the other
// way. Register after pgxdecimal.Register, whose codec this one extends.
func registerNumeric(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapMoneyEncodePlan}, m.TryWrapEncodePlanFuncs...)
	m.RegisterType(&pgtype.Type{Name: "numeric", OID: pgtype.NumericOID, Codec: numericCodec{}})
}

// numericCodec is pgx-shopspring-decimal's numeric codec, planning the
// binary scans of our three types itself.
type numericCodec struct{ pgxdecimal.NumericCodec }

func (c numericCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if format == pgtype.BinaryFormatCode {
		// The codec's plan for any NumericScanner, applied to the target
		// seen as the wrapper type that is one.
		next := c.NumericCodec.PlanScan(m, oid, format, (*pgxdecimal.Decimal)(nil))
		switch target.(type) {
		case *billing.Money:
			return scanAs(next, func(dst any) any { return (*pgMoney)(dst.(*billing.Money)) })
		case *decimal.Decimal:
			return scanAs(next, func(dst any) any { return (*pgxdecimal.Decimal)(dst.(*decimal.Decimal)) })
		case *decimal.NullDecimal:
			return scanAs(next, func(dst any) any { return (*pgxdecimal.NullDecimal)(dst.(*decimal.NullDecimal)) })
		}
	}
	return c.NumericCodec.PlanScan(m, oid, format, target)
}

func scanAs(next pgtype.ScanPlan, as func(any) any) pgtype.ScanPlan {
	if next == nil {
		return nil
	}
	return scanPlanAs{next: next, as: as}
}

type scanPlanAs struct {
	next pgtype.ScanPlan
	as   func(any) any
}

func (p scanPlanAs) Scan(src []byte, dst any) error { return p.next.Scan(src, p.as(dst)) }

// pgMoney is billing.Money as pgx's numeric codec reads and writes it.
type pgMoney billing.Money

// ScanNumeric keeps Money's rule: an amount with fractions of a cent is
// an error, not rounded; so is NULL.
func (m *pgMoney) ScanNumeric(v pgtype.Numeric) error {
	var d pgxdecimal.Decimal
	if err := d.ScanNumeric(v); err != nil {
		return fmt.Errorf("scanning money: %w", err)
	}
	money, err := billing.ExactMoney(decimal.Decimal(d))
	if err != nil {
		return err
	}
	*m = pgMoney(money)
	return nil
}

func (m pgMoney) NumericValue() (pgtype.Numeric, error) {
	return pgxdecimal.Decimal(billing.Money(m).Decimal()).NumericValue()
}

func tryWrapMoneyEncodePlan(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	if v, ok := value.(billing.Money); ok {
		return &wrapMoneyEncodePlan{}, pgMoney(v), true
	}
	return nil, nil, false
}

type wrapMoneyEncodePlan struct{ next pgtype.EncodePlan }

func (p *wrapMoneyEncodePlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *wrapMoneyEncodePlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(pgMoney(value.(billing.Money)), buf)
}
