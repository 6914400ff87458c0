package invoices

import (
	"context"

	"github.com/billingengine/engine/internal/platform/pgdb"
)

// StoredPDF reads one version of a document's file, its parts put back.
func StoredPDF(ctx context.Context, q pgdb.Executor, number string, version int) ([]byte, error) {
	var sha string
	var rest []byte
	var hashes [][]byte
	var at []int32
	if err := q.QueryRow(ctx, `SELECT sha256, pdf, parts, part_at FROM documents WHERE number = $1 AND version = $2`, number, version).
		Scan(&sha, &rest, &hashes, &at); err != nil {
		return nil, err
	}
	parts, err := loadParts(ctx, q, hashes)
	if err != nil {
		return nil, err
	}
	b, _, err := join(number, rest, at, hashes, parts, sha)
	return b, err
}

// LatestDocumentSQL is the FROM of the reads of the newest versions.
const LatestDocumentSQL = latestDocumentSQL

// ReferralLinesSQL reads the lines after the usage lines.
const ReferralLinesSQL = referralLinesSQL
