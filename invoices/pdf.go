package invoices

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jung-kurt/gofpdf"
	"github.com/shopspring/decimal"
	"golang.org/x/text/encoding/charmap"

	"github.com/billingengine/engine/billing"
)

// Seller is who issues the invoices (config: BILLING_SELLER_*).
type Seller struct {
	Name  string
	Legal string // the legal form, "SAS" (or, from older configurations, the whole mention)
	// Capital is the share capital in euros and RCS the city of the trade
	// register; with them the legal mention reads "SAS · capital 50000.00
	// EUR · RCS Paris 303 265 045" (Mention).
	Capital   decimal.Decimal
	RCS       string
	Address   string // lines separated by "\n"
	VATNumber string
	Email     string
	SIREN     string
	IBAN      string
	BIC       string
	// SEPACreditorID is the seller's SEPA creditor identifier, which SEPA
	// debit pre-notifications, mandates and a debited e-invoice carry
	// (SPEC §12, §13, §14). Country is the seller's ISO country
	// (SELLER_COUNTRY), for the e-invoice's address.
	Country        string
	SEPACreditorID string
	// TestMode marks every page TEST MODE: the engine runs with the
	// sandbox processors (SPEC §4), so the document bills nobody.
	TestMode bool
}

// Mention is the seller's legal form, capital and registration as one
// line: Legal alone when neither capital nor register is configured.
func (s Seller) Mention() string {
	parts := []string{}
	if s.Legal != "" {
		parts = append(parts, s.Legal)
	}
	if !s.Capital.IsZero() {
		parts = append(parts, "capital "+billing.FormatMoney(s.Capital)+" EUR")
	}
	if s.RCS != "" {
		rcs := "RCS " + s.RCS
		if len(s.SIREN) == 9 {
			rcs += " " + s.SIREN[:3] + " " + s.SIREN[3:6] + " " + s.SIREN[6:]
		}
		parts = append(parts, rcs)
	}
	return strings.Join(parts, " · ")
}

// DocKind is the kind of a document.
type DocKind string

const (
	KindInvoice    DocKind = "invoice"
	KindCreditNote DocKind = "credit_note"
)

// Document is everything a PDF shows, already decided: rendering only lays
// it out. Amounts are typed (billing.Money, read as such from the
// database), so the layout formats them and never parses a string back.
type Document struct {
	Kind   DocKind
	Number string
	// Reverses is the invoice a credit note cancels, issued on
	// ReversesIssued.
	Reverses       string
	ReversesIssued time.Time
	Reason         string
	Issued         time.Time
	Due            time.Time
	Period         string
	Start          time.Time
	End            time.Time

	BuyerAccount, BuyerName, BuyerEmail, BuyerCountry, BuyerVATNumber string
	// BuyerSIREN and BuyerAddress are empty until invoices store them
	// (SPEC §2's account address and SIREN); the e-invoice writes them
	// when set.
	BuyerSIREN   string
	BuyerAddress BuyerAddress
	// Payment is the account's payment method, for the e-invoice's payment
	// means.
	Payment DocumentPayment

	Lines        []DocumentLine
	Descriptions map[string]string // resource -> catalog description

	Subtotal, Discount, Tax, Total       billing.Money
	CreditApplied, AmountPaid, AmountDue billing.Money
	// TaxRate is a percentage ("20" for 20 %), not money.
	TaxRate      decimal.Decimal
	VATTreatment billing.VATTreatment
	Status       Status
}

// TotalExclVAT is the subtotal less the referral discount: what VAT is
// charged on.
func (d *Document) TotalExclVAT() billing.Money { return d.Subtotal.Sub(d.Discount) }

// PaidByProcessor is what was paid other than by prepaid credit (by card
// or debit).
func (d *Document) PaidByProcessor() billing.Money { return d.AmountPaid.Sub(d.CreditApplied) }

// DocumentLine is a line of a Document: Line, typed.
type DocumentLine struct {
	Type             billing.LineType
	App              string
	Resource         string
	Hours            decimal.NullDecimal // usage lines only
	RefereeAccountID string
	Amount           billing.Money
	// Prices details a usage line per price.
	Prices []DocumentPrice
}

// DocumentPrice is the part of a usage line billed at one price. Its JSON
// is the invoice_lines.prices column's (LinePrice's).
type DocumentPrice struct {
	PerHour decimal.Decimal `json:"price_per_hour"`
	Hours   decimal.Decimal `json:"hours"`
}

// page geometry, in millimetres.
const (
	pageW, pageH = 210.0, 297.0
	margin       = 15.0
	contentW     = pageW - 2*margin
	footerTop    = pageH - 22.0
	rowH         = 5.6
)

// table columns: app, resource, hours, price per hour, amount.
var colW = [5]float64{30, 66, 24, 28, 32}

// RenderPDF lays out doc on A4 pages and writes the PDF to w. The same
// document, seller and fonts always give the same bytes: the creation date
// is the issue date and the catalog is sorted.
func RenderPDF(w io.Writer, doc *Document, seller Seller, fonts *Fonts, loc *time.Location) (err error) {
	if loc == nil {
		loc = time.UTC
	}
	// gofpdf panics on some font troubles; a document that can't be drawn
	// is an error of that document, not a crashed worker.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rendering %s: %v", doc.Number, r)
		}
	}()
	p := newPDFDoc(doc, seller, fonts, loc)
	p.render()
	return p.f.Output(w)
}

// RenderPDFBytes is RenderPDF into memory.
func RenderPDFBytes(doc *Document, seller Seller, fonts *Fonts, loc *time.Location) ([]byte, error) {
	var b bytes.Buffer
	err := RenderPDF(&b, doc, seller, fonts, loc)
	return b.Bytes(), err
}

type pdfDoc struct {
	f       *gofpdf.Fpdf
	font    string // family|style|size set last, to skip SetFont calls
	doc     *Document
	seller  Seller
	fonts   *Fonts
	loc     *time.Location
	unicode bool
	tr      func(string) string
	fbAdded bool
}

func newPDFDoc(doc *Document, seller Seller, fonts *Fonts, loc *time.Location) *pdfDoc {
	f := gofpdf.New("P", "mm", "A4", "")
	issued := doc.Issued.UTC()
	f.SetCreationDate(issued)
	f.SetModificationDate(issued)
	f.SetCatalogSort(true)
	// Uncompressed content streams render twice as fast with a sixth of
	// the memory (gofpdf allocates a 600 KB deflater per stream); the PDF
	// stays small, and Postgres compresses what it stores.
	f.SetCompression(false)
	f.SetMargins(margin, margin, margin)
	f.SetAutoPageBreak(false, 0)
	f.AliasNbPages("{nb}")
	p := &pdfDoc{f: f, doc: doc, seller: seller, fonts: fonts, loc: loc}
	p.unicode = !p.allFitCP1252()
	if p.unicode {
		f.AddUTF8FontFromBytes("go", "", fonts.regular)
		f.AddUTF8FontFromBytes("go", "B", fonts.bold)
		p.tr = func(s string) string { return s }
	} else {
		p.tr = toCP1252
	}
	f.SetTitle(p.title()+" "+doc.Number, true)
	f.SetAuthor(seller.Name, true)
	f.SetCreator("billing", true)
	f.SetProducer("billing", true)
	return p
}

// allFitCP1252 decides the fonts once for the whole document.
func (p *pdfDoc) allFitCP1252() bool {
	d := p.doc
	texts := []string{p.seller.Name, p.seller.Mention(), p.seller.Address, p.seller.VATNumber, p.seller.Email,
		d.BuyerName, d.BuyerEmail, d.BuyerAccount, d.BuyerVATNumber, d.Reason}
	for _, l := range d.Lines {
		texts = append(texts, l.App, l.Resource, l.RefereeAccountID, d.Descriptions[l.Resource])
	}
	for _, t := range texts {
		if !fitsCP1252(t) {
			return false
		}
	}
	return true
}

func (p *pdfDoc) title() string {
	if p.doc.Kind == KindCreditNote {
		return "Credit note"
	}
	return "Invoice"
}

// run is a piece of text drawn in one font.
type run struct {
	family, text string
}

// runs splits s by the font that draws each character.
func (p *pdfDoc) runs(s string) []run {
	if !p.unicode {
		return []run{{"helvetica", p.tr(s)}}
	}
	var out []run
	for _, r := range s {
		fam := p.fonts.fontFor(r)
		if fam == "" {
			fam, r = "go", '?'
		}
		if fam == "fallback" && !p.fbAdded {
			p.f.AddUTF8FontFromBytes("fallback", "", p.fonts.fallback)
			p.fbAdded = true
		}
		if n := len(out); n > 0 && out[n-1].family == fam {
			out[n-1].text += string(r)
		} else {
			out = append(out, run{fam, string(r)})
		}
	}
	return out
}

func (p *pdfDoc) setFont(family, style string, size float64) {
	if family == "fallback" {
		style = "" // one weight only
	}
	key := fmt.Sprint(family, "|", style, "|", size)
	if key == p.font {
		return
	}
	p.font = key
	p.f.SetFont(family, style, size)
}

// toCP1252 converts UTF-8 that fitsCP1252 to the core fonts' code page.
// (gofpdf's own translator shares one buffer between calls, so it can't
// serve documents rendered side by side.)
func toCP1252(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r < 0x80 {
			b = append(b, byte(r))
			continue
		}
		c, ok := charmap.Windows1252.EncodeRune(r)
		if !ok {
			c = '?'
		}
		b = append(b, c)
	}
	return string(b)
}

// width measures s in the given style and size.
func (p *pdfDoc) width(s, style string, size float64) float64 {
	var w float64
	for _, r := range p.runs(s) {
		p.setFont(r.family, style, size)
		w += p.f.GetStringWidth(r.text)
	}
	return w
}

// text draws s at (x, y) (baseline-agnostic: y is the top of a line of
// height h) in a box of width w, aligned "L", "R" or "C".
func (p *pdfDoc) text(x, y, w, h float64, s, style string, size float64, align string) {
	tw := p.width(s, style, size)
	switch align {
	case "R":
		x += w - tw
	case "C":
		x += (w - tw) / 2
	}
	p.f.SetXY(x, y)
	for _, r := range p.runs(s) {
		p.setFont(r.family, style, size)
		rw := p.f.GetStringWidth(r.text)
		p.f.CellFormat(rw, h, r.text, "", 0, "L", false, 0, "")
	}
}

// wrap breaks s into lines no wider than w.
func (p *pdfDoc) wrap(s, style string, size, w float64) []string {
	if !strings.Contains(s, "\n") && p.width(s, style, size) <= w {
		return []string{s}
	}
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		words := strings.Fields(para)
		line := ""
		for _, word := range words {
			candidate := word
			if line != "" {
				candidate = line + " " + word
			}
			if line != "" && p.width(candidate, style, size) > w {
				lines = append(lines, line)
				line = word
			} else {
				line = candidate
			}
			// A single word wider than the box (a long id) is cut.
			for p.width(line, style, size) > w && len([]rune(line)) > 1 {
				rs := []rune(line)
				cut := len(rs) - 1
				for cut > 1 && p.width(string(rs[:cut]), style, size) > w {
					cut--
				}
				lines = append(lines, string(rs[:cut]))
				line = string(rs[cut:])
			}
		}
		lines = append(lines, line)
	}
	return lines
}

// paragraph draws wrapped text and returns the y below it.
func (p *pdfDoc) paragraph(x, y, w, h float64, s, style string, size float64) float64 {
	for _, l := range p.wrap(s, style, size, w) {
		p.text(x, y, w, h, l, style, size, "L")
		y += h
	}
	return y
}

func (p *pdfDoc) grey(v int) { p.f.SetTextColor(v, v, v) }

func (p *pdfDoc) render() {
	p.f.SetFooterFunc(p.footer)
	p.f.AddPage()
	y := p.firstPageHeader()
	y = p.table(y)
	p.totals(y)
}

func (p *pdfDoc) firstPageHeader() float64 {
	d := p.doc
	// Seller, top left.
	p.grey(0)
	y := p.paragraph(margin, margin, 100, 7, p.seller.Name, "B", 15)
	p.grey(70)
	for _, s := range []string{p.seller.Mention(), p.seller.Address, nonEmpty("VAT number ", p.seller.VATNumber), p.seller.Email} {
		if s != "" {
			y = p.paragraph(margin, y, 100, 4.2, s, "", 8.5)
		}
	}
	sellerBottom := y

	// Title and references, top right.
	right := pageW - margin - 80
	p.grey(0)
	p.text(right, margin, 80, 9, strings.ToUpper(p.title()), "B", 20, "R")
	ry := margin + 10
	meta := [][2]string{{"Number", d.Number}}
	if d.Kind == KindCreditNote {
		meta = append(meta, [2]string{"Credits invoice", d.Reverses})
	}
	meta = append(meta,
		[2]string{"Issue date", longDate(d.Issued.In(p.loc))},
		[2]string{"Period", periodRange(d.Start.In(p.loc), d.End.In(p.loc))},
	)
	if d.Kind == KindInvoice {
		meta = append(meta, [2]string{"Due date", longDate(d.Due.In(p.loc)) + " (upon receipt)"})
	}
	for _, m := range meta {
		p.grey(90)
		p.text(right, ry, 30, 4.8, m[0], "", 8.5, "L")
		p.grey(0)
		style := ""
		if m[0] == "Number" {
			style = "B"
		}
		p.text(right+30, ry, 50, 4.8, m[1], style, 9, "R")
		ry += 4.8
	}
	// Payment status, as a badge.
	if d.Kind == KindInvoice {
		label, r, g, b := statusBadge(d.Status)
		p.f.SetFillColor(r, g, b)
		p.f.SetTextColor(255, 255, 255)
		bw := p.width(label, "B", 8.5) + 6
		p.f.RoundedRect(pageW-margin-bw, ry+1.5, bw, 6, 1.2, "1234", "F")
		p.text(pageW-margin-bw, ry+1.5, bw, 6, label, "B", 8.5, "C")
		ry += 8
	}

	// Buyer.
	y = max(sellerBottom, ry) + 6
	p.f.SetDrawColor(200, 200, 200)
	p.f.SetFillColor(246, 246, 246)
	boxTop := y
	lines := p.wrap(d.BuyerName, "B", 10.5, 110)
	info := []string{"Account " + d.BuyerAccount, d.BuyerEmail, "Country " + d.BuyerCountry}
	if d.BuyerVATNumber != "" {
		info = append(info, "VAT number "+d.BuyerVATNumber)
	}
	boxH := 8 + float64(len(lines))*5.2 + float64(len(info))*4.4 + 2
	p.f.Rect(margin, boxTop, 120, boxH, "F")
	p.grey(90)
	p.text(margin+4, y+2, 100, 4.5, map[DocKind]string{KindInvoice: "Bill to", KindCreditNote: "Credit to"}[d.Kind], "", 8, "L")
	y += 7
	p.grey(0)
	for _, l := range lines {
		p.text(margin+4, y, 110, 5.2, l, "B", 10.5, "L")
		y += 5.2
	}
	p.grey(60)
	for _, s := range info {
		p.text(margin+4, y, 110, 4.4, s, "", 8.5, "L")
		y += 4.4
	}
	y = boxTop + boxH + 4
	if d.Reason != "" {
		p.grey(0)
		y = p.paragraph(margin, y, contentW, 4.6, "Reason: "+d.Reason, "", 9) + 2
	}
	return y + 3
}

func (p *pdfDoc) tableHeader(y float64) float64 {
	p.f.SetFillColor(35, 47, 62)
	p.f.Rect(margin, y, contentW, 7, "F")
	p.f.SetTextColor(255, 255, 255)
	heads := []string{"App", "Resource", "Hours", "Price per hour", "Excl. VAT"}
	aligns := []string{"L", "L", "R", "R", "R"}
	x := margin
	for i, h := range heads {
		p.text(x+1.5, y+1, colW[i]-3, 5, h, "B", 8.5, aligns[i])
		x += colW[i]
	}
	return y + 8
}

// newPage continues the table on a new page, with its header again.
func (p *pdfDoc) newPage() float64 {
	p.f.AddPage()
	p.grey(90)
	p.text(margin, margin, contentW, 5, p.seller.Name+" · "+p.title()+" "+p.doc.Number+" (continued)", "", 8.5, "L")
	return p.tableHeader(margin + 8)
}

// row is a line of the table.
type row struct {
	cells [5]string
	style string
	size  float64
	grey  int
	h     float64
}

func (p *pdfDoc) rows() []row {
	d := p.doc
	var out []row
	lastApp := ""
	for _, l := range d.Lines {
		switch l.Type {
		case billing.LineUsage:
			app := ""
			if l.App != lastApp {
				app, lastApp = l.App, l.App
			}
			desc := l.Resource
			if s := d.Descriptions[l.Resource]; s != "" && s != l.Resource {
				desc = s + " (" + l.Resource + ")"
			}
			unit := ""
			if len(l.Prices) == 1 {
				unit = formatUnitPrice(l.Prices[0].PerHour)
			}
			hours := ""
			if l.Hours.Valid {
				hours = formatHours(l.Hours.Decimal)
			}
			out = append(out, row{cells: [5]string{app, desc, hours, unit, FormatEUR(l.Amount)}, size: 8.5, h: rowH})
			if len(l.Prices) > 1 {
				for _, pr := range l.Prices {
					out = append(out, row{cells: [5]string{"", "   of which at " + formatUnitPrice(pr.PerHour), formatHours(pr.Hours), formatUnitPrice(pr.PerHour), ""},
						size: 7.5, grey: 100, h: 4.4})
				}
			}
		case billing.LineReferral:
			out = append(out, row{cells: [5]string{"", "Referral reward for account " + l.RefereeAccountID, "", "", FormatEUR(l.Amount)}, size: 8.5, h: rowH})
		case billing.LineReferralCarryover:
			out = append(out, row{cells: [5]string{"", "Rewards beyond the subtotal, added to prepaid credit", "", "", FormatEUR(l.Amount)}, size: 8.5, h: rowH})
		case billing.LineReferralReversal:
			out = append(out, row{cells: [5]string{"", "Referral reward taken back: the invoice of account " + l.RefereeAccountID + " was cancelled", "", "", FormatEUR(l.Amount)}, size: 8.5, h: rowH})
		}
	}
	return out
}

func (p *pdfDoc) table(y float64) float64 {
	y = p.tableHeader(y)
	aligns := [5]string{"L", "L", "R", "R", "R"}
	for i, r := range p.rows() {
		// Cells wrap within their column.
		wrapped := [5][]string{}
		n := 1
		for c := range r.cells {
			wrapped[c] = p.wrap(r.cells[c], r.style, r.size, colW[c]-3)
			n = max(n, len(wrapped[c]))
		}
		h := float64(n) * r.h
		if y+h > footerTop-2 {
			y = p.newPage()
		}
		if i%2 == 1 && r.grey == 0 {
			p.f.SetFillColor(249, 249, 249)
			p.f.Rect(margin, y, contentW, h, "F")
		}
		p.grey(r.grey)
		x := margin
		for c := range r.cells {
			for k, l := range wrapped[c] {
				p.text(x+1.5, y+float64(k)*r.h, colW[c]-3, r.h, l, r.style, r.size, aligns[c])
			}
			x += colW[c]
		}
		y += h
	}
	p.f.SetDrawColor(35, 47, 62)
	p.f.Line(margin, y+0.5, pageW-margin, y+0.5)
	return y + 4
}

func (p *pdfDoc) totals(y float64) {
	d := p.doc
	type tl struct {
		label, value string
		bold         bool
	}
	lines := []tl{{"Subtotal excl. VAT", FormatEUR(d.Subtotal), false}}
	if !d.Discount.IsZero() {
		lines = append(lines, tl{"Referral discount", FormatEUR(d.Discount.Neg()), false}, tl{"Total excl. VAT", FormatEUR(d.TotalExclVAT()), false})
	}
	switch d.VATTreatment {
	case billing.VATReverseCharge:
		lines = append(lines, tl{"VAT: reverse charge", FormatEUR(billing.Money{}), false})
	case billing.VATOutsideEU:
		lines = append(lines, tl{"VAT: not applicable", FormatEUR(billing.Money{}), false})
	default:
		lines = append(lines, tl{"VAT " + formatRate(d.TaxRate) + " %", FormatEUR(d.Tax), false})
	}
	lines = append(lines, tl{"Total incl. VAT", FormatEUR(d.Total), true})
	if d.Kind == KindInvoice {
		lines = append(lines,
			tl{"Prepaid credit applied", FormatEUR(d.CreditApplied.Neg()), false},
			tl{"Paid by card or debit", FormatEUR(d.PaidByProcessor().Neg()), false},
			tl{"Amount due", FormatEUR(d.AmountDue), true})
	} else {
		lines = append(lines, tl{"Refunded to prepaid credit", FormatEUR(d.AmountPaid), false})
	}
	notes := p.notes()
	need := float64(len(lines))*6 + 6
	for _, n := range notes {
		need += float64(len(p.wrap(n, "", 7.8, contentW)))*3.8 + 1.5
	}
	if y+need > footerTop-2 {
		p.f.AddPage()
		y = margin + 8
	}
	x := pageW - margin - 85
	for _, l := range lines {
		style, size := "", 9.0
		if l.bold {
			style, size = "B", 10
			p.f.SetDrawColor(180, 180, 180)
			p.f.Line(x, y, pageW-margin, y)
		}
		p.grey(0)
		p.text(x, y+0.5, 55, 5.5, l.label, style, size, "L")
		p.text(x+55, y+0.5, 30, 5.5, l.value, style, size, "R")
		y += 6
	}
	y += 6
	p.grey(70)
	for _, n := range notes {
		y = p.paragraph(margin, y, contentW, 3.8, n, "", 7.8) + 1.5
	}
}

// notes are the mentions French invoicing practice requires.
func (p *pdfDoc) notes() []string {
	d := p.doc
	var out []string
	switch d.VATTreatment {
	case billing.VATDomestic:
		// The rate and the amount on the invoice say it all.
	case billing.VATReverseCharge:
		out = append(out, "Reverse charge: VAT to be accounted for by the customer (Autoliquidation, art. 283-2 du CGI; art. 196 of Directive 2006/112/EC).")
	case billing.VATOutsideEU:
		out = append(out, "VAT not applicable: services supplied to a customer established outside the European Union (art. 259-1 du CGI).")
	case billing.VATOSS:
		out = append(out, "VAT of the customer's country, declared through the One-Stop Shop (OSS).")
	}
	if d.Kind == KindCreditNote {
		out = append(out, "This credit note cancels invoice "+d.Reverses+". Any amount paid on it has been added to the account's prepaid credit.")
		return out
	}
	out = append(out,
		"Payment upon receipt by prepaid credit, card or SEPA direct debit, collected automatically. No discount for early payment.",
		"Late payment: penalties at three times the French legal interest rate, and a fixed recovery fee of 40 € (art. L441-10 and D441-5 du Code de commerce). Unpaid after five days, the account is suspended.")
	return out
}

func (p *pdfDoc) footer() {
	p.f.SetDrawColor(210, 210, 210)
	p.f.Line(margin, pageH-16, pageW-margin, pageH-16)
	p.grey(110)
	left := p.seller.Name
	if m := p.seller.Mention(); m != "" {
		left += " · " + m
	}
	if p.seller.VATNumber != "" {
		left += " · VAT " + p.seller.VATNumber
	}
	p.text(margin, pageH-14.5, contentW-40, 4, left, "", 7.2, "L")
	page := fmt.Sprintf("%s · %d/{nb}", p.doc.Number, p.f.PageNo())
	p.text(pageW-margin-40, pageH-14.5, 40, 4, page, "", 7.2, "R")
	if p.seller.TestMode {
		p.f.SetTextColor(190, 30, 30)
		p.text(margin, pageH-9.5, contentW, 4.5, "TEST MODE · issued by the sandbox: not a valid invoice, no money has moved", "B", 8.5, "C")
	}
}

func statusBadge(s Status) (string, int, int, int) {
	switch s {
	case StatusPaid:
		return "PAID", 46, 125, 50
	case StatusProcessing:
		return "PAYMENT PROCESSING", 200, 130, 20
	case StatusVoid:
		return "VOID", 120, 120, 120
	default:
		return "UNPAID", 190, 50, 45
	}
}

func nonEmpty(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func longDate(t time.Time) string { return t.Format("2 January 2006") }

// periodRange shows [start, end) as the days it covers: "1–31 October 2026".
func periodRange(start, end time.Time) string {
	last := end.Add(-time.Nanosecond)
	if start.Month() == last.Month() && start.Year() == last.Year() {
		return fmt.Sprintf("%d–%d %s", start.Day(), last.Day(), last.Format("January 2006"))
	}
	return longDate(start) + " – " + longDate(last)
}

const nbsp = "\u00a0"

// The layout's formatters, one per kind of value. Each writes its value's
// canonical form (billing's, for money) in French style; none parses or
// computes.

// FormatEUR shows an amount the way people read it on a French invoice:
// "1 234,56 €" (no-break spaces).
func FormatEUR(m billing.Money) string { return groupFR(m.String()) + nbsp + "€" }

// groupFR writes a decimal string with French separators.
func groupFR(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(nbsp)
		}
		b.WriteRune(c)
	}
	if hasFrac {
		b.WriteString("," + frac)
	}
	return sign + b.String()
}

// formatHours shows a quantity of hours without its trailing zeros:
// "744", "1,5".
func formatHours(d decimal.Decimal) string { return groupFR(d.String()) }

// formatUnitPrice shows a price per hour to the cent at least, and to
// every decimal it has beyond: "0,03 €/h", "0,0278 €/h", "1,00 €/h". It
// depends on the value, not on how it was written ("0.1" and "0.10" show
// alike).
func formatUnitPrice(d decimal.Decimal) string {
	s := d.String() // trailing zeros trimmed
	if _, frac, _ := strings.Cut(s, "."); len(frac) < billing.MoneyDecimals {
		s = billing.FormatFixed(d, billing.MoneyDecimals)
	}
	return groupFR(s) + nbsp + "€/h"
}

// formatRate shows a VAT rate in percent: "20", "5,5".
func formatRate(d decimal.Decimal) string { return strings.Replace(d.String(), ".", ",", 1) }
