package invoices

import (
	"io"
	"log/slog"
	"time"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/invoices/pdf"
)

// The layout of documents is package invoices/pdf, pure layout from typed
// values; invoices builds its Documents from the database, stores what it
// draws, and names its types and functions here for its callers.
type (
	// Document is everything a PDF shows (pdf.Document).
	Document = pdf.Document
	// DocumentLine is a line of a Document.
	DocumentLine = pdf.DocumentLine
	// DocumentPrice is the part of a usage line billed at one price.
	DocumentPrice = pdf.DocumentPrice
	// DocKind is the kind of a document.
	DocKind = pdf.DocKind
	// Seller is who issues the documents (config: BILLING_SELLER_*).
	Seller = pdf.Seller
	// Address is a billing address.
	Address = pdf.Address
	// DocumentPayment is how the buyer of a Document pays.
	DocumentPayment = pdf.DocumentPayment
	// MandateDoc is what a SEPA mandate's PDF shows.
	MandateDoc = pdf.MandateDoc
	// Fonts are the fonts documents are drawn with.
	Fonts = pdf.Fonts
)

const (
	KindInvoice    = pdf.KindInvoice
	KindCreditNote = pdf.KindCreditNote
	// DefaultFallbackFont is Debian's fonts-droid-fallback .ttf.
	DefaultFallbackFont = pdf.DefaultFallbackFont
	// FacturXFileName is the name the CII XML is embedded under.
	FacturXFileName = pdf.FacturXFileName
)

// LoadFonts is pdf.LoadFonts.
func LoadFonts(fallbackPath string, log *slog.Logger) (*Fonts, error) {
	return pdf.LoadFonts(fallbackPath, log)
}

// DefaultFallbackPath is pdf.DefaultFallbackPath.
func DefaultFallbackPath() string { return pdf.DefaultFallbackPath() }

// RenderPDF is pdf.RenderPDF.
func RenderPDF(w io.Writer, doc *Document, seller Seller, fonts *Fonts, loc *time.Location) error {
	return pdf.RenderPDF(w, doc, seller, fonts, loc)
}

// RenderPDFBytes is pdf.RenderPDFBytes.
func RenderPDFBytes(doc *Document, seller Seller, fonts *Fonts, loc *time.Location) ([]byte, error) {
	return pdf.RenderPDFBytes(doc, seller, fonts, loc)
}

// FormatEUR is pdf.FormatEUR: "1 234,56 €".
func FormatEUR(m billing.Money) string { return pdf.FormatEUR(m) }

// RenderMandatePDF is pdf.RenderMandatePDF.
func RenderMandatePDF(m MandateDoc, seller Seller, fonts *Fonts, loc *time.Location) ([]byte, error) {
	return pdf.RenderMandatePDF(m, seller, fonts, loc)
}
