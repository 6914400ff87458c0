// Package pdf lays out invoices and credit notes as PDFs (SPEC §6, §13):
// pure layout from typed values. A Document says everything a PDF shows,
// already decided by package invoices; this package only words it in the
// document's language, draws it with the embedded fonts and, for a
// business buyer, makes it a PDF/A-3b with its e-invoice embedded. It
// reads no database and imports nothing of ours but billing.
package pdf

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jung-kurt/gofpdf"
	"github.com/shopspring/decimal"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

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
	SEPACreditorID string
	Country        string
	// TestMode marks every page TEST MODE: the engine runs with the
	// sandbox processors (SPEC §4), so the document bills nobody.
	TestMode bool
}

// Mention is the seller's legal form, capital and registration as one
// line, as French documents print it: "SAS au capital de 50 000,00 € · RCS
// Paris 303 265 045" (English ones say "share capital"); Legal alone when
// neither capital nor register is configured.
func (s Seller) Mention() string { return french.sellerMention(s) }

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
	// The buyer's billing address and SIREN as invoiced (zero when the
	// account had none), and the language of the document.
	BuyerAddress Address
	BuyerSIREN   string
	Language     billing.Language

	// PortalURL is where the customer pays online (SPEC §14), when a
	// portal is configured: an unpaid invoice shows it.
	PortalURL string
	// EInvoiceXML is the CII XML of a business account's document (SPEC
	// §13), embedded as factur-x.xml in its PDF/A-3b; nil for none.
	EInvoiceXML []byte
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
	Status       billing.InvoiceStatus
}

// DocumentPayment is how the buyer pays, as the e-invoice's payment means
// say: the account's current payment method.
type DocumentPayment struct {
	Type      string // "card", "sepa_debit", or "" for none
	MandateID string
}

// Stamp identifies the state a document shows. A credit note never
// changes.
func (d *Document) Stamp() string {
	if d.Kind == KindCreditNote {
		return "issued"
	}
	return fmt.Sprintf("%s|%s|%s|%s", d.Status, d.AmountPaid, d.CreditApplied, d.AmountDue)
}

// Address is a billing address; the zero Address is none.
type Address struct {
	Line1, Line2, PostalCode, City, Country string
}

// Lines are the address as printed: "12 rue de la Paix", "75002 Paris",
// and the country's name in the document's language when it is not the
// seller's (a code such as "PL" is not a postal address).
func (a Address) Lines(sellerCountry string, lang billing.Language) []string {
	if a.Line1 == "" {
		return nil
	}
	out := []string{a.Line1}
	if a.Line2 != "" {
		out = append(out, a.Line2)
	}
	out = append(out, strings.TrimSpace(a.PostalCode+" "+a.City))
	if a.Country != "" && a.Country != sellerCountry {
		out = append(out, countryName(a.Country, lang))
	}
	return out
}

// countryName is an ISO 3166 country's name in the language, from CLDR
// (golang.org/x/text): "Pologne", "Poland"; the code itself when CLDR has
// no name for it.
func countryName(code string, lang billing.Language) string {
	r, err := language.ParseRegion(code)
	if err != nil {
		return code
	}
	names := display.English.Regions()
	if lang == billing.LanguageFrench {
		names = display.French.Regions()
	}
	if n := names.Name(r); n != "" {
		return n
	}
	return code
}

// Business reports whether the buyer is a business (a VAT number or a
// SIREN): its documents are PDF/A-3b e-invoices (SPEC §13).
func (d *Document) Business() bool { return d.BuyerVATNumber != "" || d.BuyerSIREN != "" }

// Unpaid reports whether an invoice still asks for money.
func (d *Document) Unpaid() bool {
	return d.Kind == KindInvoice && (d.Status == billing.InvoiceStatusOpen || d.Status == billing.InvoiceStatusProcessing) && d.AmountDue.IsPositive()
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

// DocumentPrice is the part of a usage line billed at one price.
type DocumentPrice struct {
	PerHour decimal.Decimal
	Hours   decimal.Decimal
}

// page geometry, in millimetres.
const (
	pageW, pageH = 210.0, 297.0
	margin       = 15.0
	contentW     = pageW - 2*margin
	footerTop    = pageH - 22.0
	rowH         = 5.6
	subRowH      = 4.4
	wrapGap      = 3.7 // between the lines of a wrapped cell
	totalH       = 5.4 // a line of the totals
	cellPad      = 1.5
	// amountRight is where every amount ends, in the table and in the
	// totals alike: inside the rules by a cell's padding.
	amountRight = pageW - margin - cellPad
)

// table columns: app, resource, hours, price per hour, amount.
var colW = [5]float64{30, 66, 24, 28, 32}

// RenderPDF lays out doc on A4 pages in its language and writes the PDF to
// w: a PDF/A-3b for a business buyer (with doc.EInvoiceXML embedded when
// there is one), a plain PDF otherwise. The same document, seller and
// fonts always give the same bytes: the creation date is the issue date,
// the catalog is sorted and the file identifier is a digest.
func RenderPDF(w io.Writer, doc *Document, seller Seller, fonts *Fonts, loc *time.Location) error {
	b, err := RenderPDFBytes(doc, seller, fonts, loc)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// RenderPDFBytes is RenderPDF into memory.
func RenderPDFBytes(doc *Document, seller Seller, fonts *Fonts, loc *time.Location) ([]byte, error) {
	f, err := Render(doc, seller, fonts, loc)
	return f.Bytes, err
}

// File is a rendered PDF with the parts of it that other documents hold
// byte for byte.
type File struct {
	Bytes []byte
	// Shared are the spans of Bytes copied from the process's caches (the
	// font subsets, their glyph maps, the sRGB profile of a PDF/A), in the
	// order of the file, not overlapping: a store can keep each once.
	Shared []Span
}

// Span is a run of a File's bytes: Data, read-only and shared with other
// files, at offset At; SHA256 is its digest, computed once with Data (zero
// when not known).
type Span struct {
	At     int
	Data   []byte
	SHA256 [32]byte
}

// Render is RenderPDFBytes with the spans of the file that are shared.
func Render(doc *Document, seller Seller, fonts *Fonts, loc *time.Location) (out File, err error) {
	if loc == nil {
		loc = time.UTC
	}
	// gofpdf panics on some font troubles; a document that can't be drawn
	// is an error of that document, not a crashed worker.
	defer func() {
		if r := recover(); r != nil {
			out, err = File{}, fmt.Errorf("rendering %s: %v", doc.Number, r)
		}
	}()
	p := newPDFDoc(doc, seller, fonts, loc)
	p.render()
	var b bytes.Buffer
	if err := p.f.Output(&b); err != nil {
		return File{}, err
	}
	out.Bytes = b.Bytes()
	for _, s := range p.f.SharedStreams() {
		out.Shared = append(out.Shared, Span{At: s.Offset, Data: s.Data, SHA256: s.SHA256})
	}
	if !doc.Business() {
		return out, nil
	}
	return toPDFA(out, pdfaInfo{
		title: p.title(), author: seller.Name, creator: pdfCreator, producer: pdfCreator,
		created: doc.Issued, documentType: "INVOICE",
	}, doc.EInvoiceXML)
}

// pdfCreator is the Info dictionary's Creator and Producer.
const pdfCreator = "billing"

type pdfDoc struct {
	f       *gofpdf.Fpdf
	font    fontKey // set last, to skip SetFont calls
	doc     *Document
	seller  Seller
	fonts   *Fonts
	loc     *time.Location
	w       *wording
	fbAdded bool
}

func newPDFDoc(doc *Document, seller Seller, fonts *Fonts, loc *time.Location) *pdfDoc {
	f := gofpdf.New("P", "mm", "A4", "")
	issued := doc.Issued.UTC()
	f.SetCreationDate(issued)
	f.SetModificationDate(issued)
	f.SetCatalogSort(true)
	// Content streams compressed, with compressors reused (gofpdf patch
	// 3): the PDF is stored as it is (migration 0014), Postgres does not
	// try to compress fonts that already are.
	f.SetCompression(true)
	f.SetMargins(margin, margin, margin)
	f.SetAutoPageBreak(false, 0)
	f.AliasNbPages("{nb}")
	p := &pdfDoc{f: f, doc: doc, seller: seller, fonts: fonts, loc: loc, w: wordingFor(doc)}
	// One typeface for every document, whatever its names' script: the Go
	// fonts, embedded (PDF/A forbids the core fonts, which are not). Their
	// parse and subsets are shared by every document (third_party/gofpdf).
	f.AddUTF8FontFromBytes("go", "", fonts.regular)
	f.AddUTF8FontFromBytes("go", "B", fonts.bold)
	f.SetTitle(p.title(), true)
	f.SetAuthor(seller.Name, true)
	f.SetCreator(pdfCreator, true)
	f.SetProducer(pdfCreator, true)
	return p
}

func (p *pdfDoc) kindTitle() string {
	if p.doc.Kind == KindCreditNote {
		return p.w.creditNote
	}
	return p.w.invoice
}

func (p *pdfDoc) title() string { return p.kindTitle() + " " + p.doc.Number }

// fontKey is a font as SetFont takes it.
type fontKey struct {
	family, style string
	size          float64
}

// run is a piece of text drawn in one font.
type run struct {
	family, text string
}

// runs splits s by the font that draws each character.
func (p *pdfDoc) runs(s string) []run {
	if p.fonts.allGo(s) {
		return []run{{"go", s}}
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
	// Compared as they are: building a key string here cost a twentieth
	// of a document's CPU.
	key := fontKey{family, style, size}
	if key == p.font {
		return
	}
	p.font = key
	p.f.SetFont(family, style, size)
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

// text draws s at (x, y) (y is the top of a line of height h) in a box of
// width w, aligned "L", "R" or "C".
func (p *pdfDoc) text(x, y, w, h float64, s, style string, size float64, align string) {
	rs := p.runs(s)
	if align != "L" {
		var tw float64
		for _, r := range rs {
			p.setFont(r.family, style, size)
			tw += p.f.GetStringWidth(r.text)
		}
		switch align {
		case "R":
			x += w - tw
		case "C":
			x += (w - tw) / 2
		}
	}
	p.f.SetXY(x, y)
	for _, r := range rs {
		p.setFont(r.family, style, size)
		rw := p.f.GetStringWidth(r.text)
		p.f.CellFormat(rw, h, r.text, "", 0, "L", false, 0, "")
	}
}

// wrap breaks s into lines no wider than w: at spaces, and a word wider
// than the box (a long app name) after a separator (- _ . / :) where it has
// one, else where it must.
func (p *pdfDoc) wrap(s, style string, size, w float64) []string {
	if !strings.Contains(s, "\n") && p.width(s, style, size) <= w {
		return []string{s}
	}
	space := p.width(" ", style, size)
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line, lineW := "", 0.0
		for _, word := range strings.Fields(para) {
			ww := p.width(word, style, size)
			if line != "" && lineW+space+ww <= w {
				line, lineW = line+" "+word, lineW+space+ww
				continue
			}
			if line != "" {
				lines = append(lines, line)
			}
			line, lineW = word, ww
			for lineW > w && len([]rune(line)) > 1 {
				head, rest := p.breakWord(line, style, size, w)
				lines = append(lines, head)
				line, lineW = rest, p.width(rest, style, size)
			}
		}
		lines = append(lines, line)
	}
	return lines
}

// breakWord cuts a word wider than w: after its last separator that
// leaves a head fitting in w, else after as many characters as fit.
func (p *pdfDoc) breakWord(word, style string, size, w float64) (string, string) {
	rs := []rune(word)
	fit := 1
	for fit < len(rs) && p.width(string(rs[:fit+1]), style, size) <= w {
		fit++
	}
	for i := fit; i > 0; i-- {
		if strings.ContainsRune("-_./:", rs[i-1]) && i < len(rs) {
			return string(rs[:i]), string(rs[i:])
		}
	}
	return string(rs[:fit]), string(rs[fit:])
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
	d, w := p.doc, p.w
	// Seller, top left: who issues the document, with every mention of
	// its identity (SPEC §6).
	// Title and references, top right: labels in a column wide enough
	// for the longest, values right-aligned at the page's right margin.
	const boxW = 85.0
	right := pageW - margin - boxW
	sellerW := right - margin - 5
	p.grey(0)
	y := p.paragraph(margin, margin, sellerW, 7, p.seller.Name, "B", 15)
	p.grey(70)
	for _, s := range []string{w.sellerMention(p.seller), p.seller.Address, nonEmpty(w.vatNumber+" ", p.seller.VATNumber), p.seller.Email} {
		if s != "" {
			y = p.paragraph(margin, y, sellerW, 4.2, s, "", 8.5)
		}
	}
	sellerBottom := y

	p.grey(0)
	p.text(right, margin, boxW, 9, strings.ToUpper(p.kindTitle()), "B", 20, "R")
	ry := margin + 10
	meta := [][2]string{{w.number, d.Number}}
	if d.Kind == KindCreditNote {
		meta = append(meta, [2]string{w.credits, d.Reverses + " (" + w.date(d.ReversesIssued.In(p.loc)) + ")"})
	}
	meta = append(meta,
		[2]string{w.issueDate, w.date(d.Issued.In(p.loc))},
		[2]string{w.period, w.span(d.Start.In(p.loc), d.End.In(p.loc))},
	)
	if d.Kind == KindInvoice {
		meta = append(meta, [2]string{w.dueDate, w.date(d.Due.In(p.loc)) + " (" + w.uponReceipt + ")"})
	}
	labelW := 0.0
	for _, m := range meta {
		labelW = max(labelW, p.width(m[0], "", 8.5)+2)
	}
	for i, m := range meta {
		style := ""
		if i == 0 {
			style = "B"
		}
		lines := p.wrap(m[1], style, 9, boxW-labelW)
		p.grey(90)
		p.text(right, ry, labelW, 4.8, m[0], "", 8.5, "L")
		p.grey(0)
		for _, l := range lines {
			p.text(right+labelW, ry, boxW-labelW, 4.8, l, style, 9, "R")
			ry += 4.8
		}
	}
	// Payment status, as a badge.
	if d.Kind == KindInvoice {
		label, r, g, b := w.status(d.Status)
		p.f.SetFillColor(r, g, b)
		p.f.SetTextColor(255, 255, 255)
		bw := p.width(label, "B", 8.5) + 6
		p.f.RoundedRect(pageW-margin-bw, ry+1.5, bw, 6, 1.2, "1234", "F")
		p.text(pageW-margin-bw, ry+1.5, bw, 6, label, "B", 8.5, "C")
		ry += 8
	}

	// Buyer: name, billing address, identifiers.
	y = max(sellerBottom, ry) + 4
	p.f.SetFillColor(246, 246, 246)
	boxTop := y
	const buyerW = 120.0
	lines := p.wrap(d.BuyerName, "B", 10.5, buyerW-8)
	var info []string
	for _, l := range d.BuyerAddress.Lines(p.seller.country(), d.Language) {
		info = append(info, p.wrap(l, "", 8.5, buyerW-8)...)
	}
	if d.BuyerAddress.Line1 == "" {
		info = append(info, w.country+" "+countryName(d.BuyerCountry, d.Language))
	}
	if d.BuyerSIREN != "" {
		info = append(info, w.siren+" "+d.BuyerSIREN)
	}
	if d.BuyerVATNumber != "" {
		info = append(info, w.vatNumber+" "+d.BuyerVATNumber)
	}
	info = append(info, w.account+" "+d.BuyerAccount)
	if d.BuyerEmail != "" {
		info = append(info, d.BuyerEmail)
	}
	boxH := 8 + float64(len(lines))*5.2 + float64(len(info))*4.4 + 2
	p.f.Rect(margin, boxTop, buyerW, boxH, "F")
	p.grey(90)
	label := w.billTo
	if d.Kind == KindCreditNote {
		label = w.creditTo
	}
	p.text(margin+4, y+2, buyerW-8, 4.5, label, "", 8, "L")
	y += 7
	p.grey(0)
	for _, l := range lines {
		p.text(margin+4, y, buyerW-8, 5.2, l, "B", 10.5, "L")
		y += 5.2
	}
	p.grey(60)
	for _, s := range info {
		p.text(margin+4, y, buyerW-8, 4.4, s, "", 8.5, "L")
		y += 4.4
	}
	y = boxTop + boxH + 3
	if d.Reason != "" {
		p.grey(0)
		y = p.paragraph(margin, y, contentW, 4.6, w.reason+d.Reason, "", 9) + 2
	}
	return y + 2
}

// tableHeader draws the table's header band, as tall as its labels need.
func (p *pdfDoc) tableHeader(y float64) float64 {
	w := p.w
	heads := []string{w.app, w.resource, w.hours, w.pricePerHour, w.exclVAT}
	aligns := []string{"L", "L", "R", "R", "R"}
	wrapped := make([][]string, len(heads))
	n := 1
	for i, h := range heads {
		wrapped[i] = p.wrap(h, "B", 8.5, colW[i]-2*cellPad)
		n = max(n, len(wrapped[i]))
	}
	bandH := 3 + float64(n)*4.2
	p.f.SetFillColor(35, 47, 62)
	p.f.Rect(margin, y, contentW, bandH, "F")
	p.f.SetTextColor(255, 255, 255)
	x := margin
	for i := range heads {
		for k, l := range wrapped[i] {
			p.text(x+cellPad, y+1.5+float64(k)*4.2, colW[i]-2*cellPad, 4.2, l, "B", 8.5, aligns[i])
		}
		x += colW[i]
	}
	return y + bandH + 1
}

// newPage continues the table on a new page, with its header again.
func (p *pdfDoc) newPage() float64 {
	p.f.AddPage()
	p.grey(90)
	p.text(margin, margin, contentW, 5, p.seller.Name+" · "+p.title()+" ("+p.w.continued+")", "", 8.5, "L")
	return p.tableHeader(margin + 8)
}

// row is a line of the table. A row that starts a group (a usage line)
// keeps the sub-rows after it on its page.
type row struct {
	cells [5]string
	style string
	size  float64
	grey  int
	h     float64
	sub   bool
	// wide rows (referral rewards) write their text across the resource,
	// hours and price columns.
	wide bool
}

// rows are the table's lines. Referral rewards are one aggregated line
// ("Referral rewards (N referred accounts)"), and so are their reversals:
// a referrer's document never names another customer's account.
func (p *pdfDoc) rows() []row {
	d, w := p.doc, p.w
	var out []row
	lastApp := ""
	var referrals, reversals []DocumentLine
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
					out = append(out, row{cells: [5]string{"", w.ofWhichAt + " " + formatUnitPrice(pr.PerHour), formatHours(pr.Hours), formatUnitPrice(pr.PerHour), ""},
						size: 7.5, grey: 100, h: subRowH, sub: true})
				}
			}
		case billing.LineReferral:
			referrals = append(referrals, l)
		case billing.LineReferralReversal:
			reversals = append(reversals, l)
		case billing.LineReferralCarryover:
		}
	}
	sum := func(ls []DocumentLine) billing.Money {
		var m billing.Money
		for _, l := range ls {
			m = m.Add(l.Amount)
		}
		return m
	}
	if len(referrals) > 0 {
		out = append(out, row{cells: [5]string{"", w.referrals(len(referrals)), "", "", FormatEUR(sum(referrals))}, size: 8.5, h: rowH, wide: true})
	}
	if len(reversals) > 0 {
		out = append(out, row{cells: [5]string{"", w.referralsReversed(len(reversals)), "", "", FormatEUR(sum(reversals))}, size: 8.5, h: rowH, wide: true})
	}
	for _, l := range d.Lines {
		if l.Type == billing.LineReferralCarryover {
			out = append(out, row{cells: [5]string{"", w.carryover, "", "", FormatEUR(l.Amount)}, size: 8.5, h: rowH, wide: true})
		}
	}
	return out
}

// colWidth is the width column c's text may take.
func (r row) colWidth(c int) float64 {
	if r.wide && c == 1 {
		return colW[1] + colW[2] + colW[3]
	}
	return colW[c]
}

func (p *pdfDoc) table(y float64) float64 {
	y = p.tableHeader(y)
	aligns := [5]string{"L", "L", "R", "R", "R"}
	rows := p.rows()
	wrapped := make([][5][]string, len(rows))
	heights := make([]float64, len(rows))
	for i, r := range rows {
		n := 1
		for c := range r.cells {
			wrapped[i][c] = p.wrap(r.cells[c], r.style, r.size, r.colWidth(c)-2*cellPad)
			n = max(n, len(wrapped[i][c]))
		}
		// Lines after a cell's first are set closer than rows are.
		heights[i] = r.h + float64(n-1)*wrapGap
	}
	stripe := 0
	for i, r := range rows {
		// A line and its price split stay on one page: the group breaks
		// before its first line, never between.
		if !r.sub {
			group := heights[i]
			for k := i + 1; k < len(rows) && rows[k].sub; k++ {
				group += heights[k]
			}
			if y+group > footerTop-2 {
				y = p.newPage()
			}
			stripe++
		}
		h := heights[i]
		if stripe%2 == 0 {
			p.f.SetFillColor(249, 249, 249)
			p.f.Rect(margin, y, contentW, h, "F")
		}
		p.grey(r.grey)
		x := margin
		for c := range r.cells {
			for k, l := range wrapped[i][c] {
				p.text(x+cellPad, y+float64(k)*wrapGap, r.colWidth(c)-2*cellPad, r.h, l, r.style, r.size, aligns[c])
			}
			x += colW[c]
		}
		y += h
	}
	p.f.SetDrawColor(35, 47, 62)
	p.f.Line(margin, y+0.5, pageW-margin, y+0.5)
	return y + 4
}

// totalsX is where the totals' labels start: the left edge of the table's
// price column, so that labels and amounts share the table's last two
// columns and every amount ends where the line amounts do.
var totalsX = pageW - margin - colW[4] - colW[3] - colW[2] - 14

func (p *pdfDoc) totals(y float64) {
	d, w := p.doc, p.w
	type tl struct {
		label, value string
		bold         bool
	}
	lines := []tl{{w.subtotal, FormatEUR(d.Subtotal), false}}
	if !d.Discount.IsZero() {
		lines = append(lines, tl{w.discount, FormatEUR(d.Discount.Neg()), false}, tl{w.totalExclVAT, FormatEUR(d.TotalExclVAT()), false})
	}
	switch d.VATTreatment {
	case billing.VATReverseCharge:
		lines = append(lines, tl{w.vatReverse, FormatEUR(billing.Money{}), false})
	case billing.VATOutsideEU:
		lines = append(lines, tl{w.vatNotApplicable, FormatEUR(billing.Money{}), false})
	case billing.VATDomestic, billing.VATOSS:
		lines = append(lines, tl{w.vatRate(formatRate(d.TaxRate)), FormatEUR(d.Tax), false})
	default:
		lines = append(lines, tl{w.vatRate(formatRate(d.TaxRate)), FormatEUR(d.Tax), false})
	}
	lines = append(lines, tl{w.totalInclVAT, FormatEUR(d.Total), true})
	if d.Kind == KindInvoice {
		lines = append(lines,
			tl{w.creditApplied, FormatEUR(d.CreditApplied.Neg()), false},
			tl{w.paidByProcessor, FormatEUR(d.PaidByProcessor().Neg()), false},
			tl{w.amountDue, FormatEUR(d.AmountDue), true})
	} else {
		lines = append(lines, tl{w.refunded, FormatEUR(d.AmountPaid), false})
	}
	// The totals stay together; the payment instructions and the
	// mentions after them follow, on the next page if need be.
	if y+float64(len(lines))*totalH+2 > footerTop-2 {
		y = p.continuation()
	}
	const valueW = 34.0
	labelW := amountRight - valueW - totalsX
	for _, l := range lines {
		style, size := "", 9.0
		if l.bold {
			style, size = "B", 10
			p.f.SetDrawColor(180, 180, 180)
			p.f.Line(totalsX, y, pageW-margin, y)
		}
		p.grey(0)
		p.text(totalsX, y+0.3, labelW, totalH-0.4, l.label, style, size, "L")
		p.text(amountRight-valueW, y+0.3, valueW, totalH-0.4, l.value, style, size, "R")
		y += totalH
	}
	y += 3
	if pay := p.howToPay(); len(pay) > 0 {
		need := 5.0
		for _, s := range pay[1:] {
			need += float64(len(p.wrap(s, "", 8.5, contentW)))*4.2 + 0.5
		}
		if y+need > footerTop-2 {
			y = p.continuation()
		}
		p.grey(0)
		p.text(margin, y, contentW, 4.6, pay[0], "B", 9, "L")
		y += 5
		for _, s := range pay[1:] {
			y = p.paragraph(margin, y, contentW, 4.2, s, "", 8.5) + 0.5
		}
		y += 3
	}
	for _, n := range p.notes() {
		if y+float64(len(p.wrap(n, "", 7.6, contentW)))*3.6 > footerTop-2 {
			y = p.continuation()
		}
		p.grey(70)
		y = p.paragraph(margin, y, contentW, 3.6, n, "", 7.6) + 1
	}
}

// continuation starts a page after the table: the document's name at its
// top, as on the table's pages.
func (p *pdfDoc) continuation() float64 {
	p.f.AddPage()
	p.grey(90)
	p.text(margin, margin, contentW, 5, p.seller.Name+" · "+p.title()+" ("+p.w.continued+")", "", 8.5, "L")
	return margin + 9
}

// howToPay is what an unpaid invoice says about paying it (SPEC §6): the
// portal's link when there is one, and a transfer to the seller's account
// with the invoice's number as reference. Its first line is its heading.
func (p *pdfDoc) howToPay() []string {
	d, w := p.doc, p.w
	if !d.Unpaid() {
		return nil
	}
	out := []string{w.howToPay}
	if d.PortalURL != "" {
		out = append(out, w.portal+d.PortalURL)
	}
	if p.seller.IBAN != "" {
		out = append(out, w.transfer+p.seller.Name+" : "+fmt.Sprintf(w.ibanBIC, groupIBAN(p.seller.IBAN), p.seller.BIC)+", "+w.transferRef+d.Number+".")
	}
	if d.Status == billing.InvoiceStatusProcessing || len(out) == 1 {
		out = append(out, w.autoCollect)
	}
	return out
}

// groupIBAN writes an IBAN in groups of four, as banks print it.
func groupIBAN(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// notes are the mentions French law requires (SPEC §6).
func (p *pdfDoc) notes() []string {
	d, w := p.doc, p.w
	out := []string{w.category}
	switch d.VATTreatment {
	case billing.VATDomestic:
		// The rate and the amount on the invoice say it all.
	case billing.VATReverseCharge:
		out = append(out, w.reverseCharge)
	case billing.VATOutsideEU:
		out = append(out, w.outsideEU)
	case billing.VATOSS:
		out = append(out, w.oss)
	}
	if d.Kind == KindCreditNote {
		return append(out, w.cancels(d.Reverses, w.date(d.ReversesIssued.In(p.loc))))
	}
	return append(out, w.terms+" "+w.noDiscount, w.penalties+" "+w.recoveryFee+" "+w.suspension)
}

func (p *pdfDoc) footer() {
	p.f.SetDrawColor(210, 210, 210)
	p.f.Line(margin, pageH-16, pageW-margin, pageH-16)
	p.grey(110)
	left := p.seller.Name
	if m := p.w.sellerMention(p.seller); m != "" {
		left += " · " + m
	}
	if p.seller.VATNumber != "" {
		left += " · " + p.w.vatNumber + " " + p.seller.VATNumber
	}
	p.paragraph(margin, pageH-14.5, contentW-42, 3.4, left, "", 7.2)
	page := fmt.Sprintf("%s · %d/{nb}", p.doc.Number, p.f.PageNo())
	p.text(pageW-margin-40, pageH-14.5, 40, 3.4, page, "", 7.2, "R")
	if p.seller.TestMode {
		p.f.SetTextColor(190, 30, 30)
		p.text(margin, pageH-8.5, contentW, 4.5, p.w.testMode, "B", 8.5, "C")
	}
}

// country is the seller's country, from its VAT number.
func (s Seller) country() string {
	if len(s.VATNumber) >= 2 {
		return s.VATNumber[:2]
	}
	return "FR"
}

func nonEmpty(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// nbsp separates thousands and the currency: a no-break space, which the
// Go fonts have (U+202F, the narrow one, they lack).
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
