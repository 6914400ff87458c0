package pdf

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
)

// DefaultFallbackFont is where Debian's fonts-droid-fallback puts a TrueType
// font with CJK glyphs. gofpdf reads .ttf only, so fonts-noto-cjk's .ttc
// collections can't serve.
const DefaultFallbackFont = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"

// Fonts are the fonts PDFs are drawn with, loaded once and shared:
//
//   - every document is drawn in the Go fonts, embedded in the binary and
//     in each PDF, which cover Latin (with Latin Extended: Łódź, Rīga),
//     Greek and Cyrillic: one typeface for every Latin-script customer;
//   - runs of characters the Go fonts lack (CJK…) use the fallback font
//     file named in config (BILLING_PDF_FALLBACK_FONT), when there is one;
//   - a character no font has is drawn as '?' and logged as a warning that
//     says which font to install or set: never a crash, never a silent '.'.
//
// gofpdf (third_party/gofpdf, PATCHES.md) parses each font once per
// process and cuts its subsets once per set of Unicode blocks, so the
// embedded fonts cost a document little more than the core fonts did.
type Fonts struct {
	regular, bold []byte
	goFont        *sfnt.Font
	// goBMP has a bit per code point of the Basic Multilingual Plane the
	// Go fonts have: read without a lock by every document.
	goBMP        []uint64
	fallback     []byte
	fallbackPath string
	fbFont       *sfnt.Font
	log          *slog.Logger

	mu      sync.Mutex
	goHas   map[rune]bool // beyond the BMP
	fbHas   map[rune]bool
	missing map[rune]bool
}

// The Go fonts as documents embed them, without their hinting (unhinted),
// made once per process: gofpdf shares a font's parse and subsets between
// documents by the identity of its bytes.
var (
	goOnce            sync.Once
	goRegular, goBold []byte
	goErr             error
)

// LoadFonts parses the embedded Go fonts and, if path is not empty, the
// fallback font. A fallback that can't be read is an error: config named it.
func LoadFonts(fallbackPath string, log *slog.Logger) (*Fonts, error) {
	if log == nil {
		log = slog.Default()
	}
	goOnce.Do(func() {
		if goRegular, goErr = unhinted(goregular.TTF); goErr == nil {
			goBold, goErr = unhinted(gobold.TTF)
		}
	})
	if goErr != nil {
		return nil, fmt.Errorf("the Go fonts: %w", goErr)
	}
	f := &Fonts{regular: goRegular, bold: goBold, log: log,
		goHas: map[rune]bool{}, fbHas: map[rune]bool{}, missing: map[rune]bool{}}
	var err error
	if f.goFont, err = sfnt.Parse(goregular.TTF); err != nil {
		return nil, fmt.Errorf("parsing the Go font: %w", err)
	}
	f.goBMP = make([]uint64, 0x10000/64)
	var buf sfnt.Buffer
	for r := rune(0); r < 0x10000; r++ {
		if idx, err := f.goFont.GlyphIndex(&buf, r); err == nil && idx != 0 {
			f.goBMP[r/64] |= 1 << (r % 64)
		}
	}
	if fallbackPath != "" {
		b, err := os.ReadFile(fallbackPath)
		if err != nil {
			return nil, fmt.Errorf("fallback font: %w", err)
		}
		if f.fbFont, err = sfnt.Parse(b); err != nil {
			return nil, fmt.Errorf("fallback font %s: %w (gofpdf needs a .ttf, not a .ttc collection)", fallbackPath, err)
		}
		f.fallback, f.fallbackPath = b, fallbackPath
	}
	return f, nil
}

// DefaultFallbackPath returns DefaultFallbackFont when it exists, else "".
func DefaultFallbackPath() string {
	if _, err := os.Stat(DefaultFallbackFont); err == nil {
		return DefaultFallbackFont
	}
	return ""
}

func has(font *sfnt.Font, cache map[rune]bool, r rune) bool {
	if v, ok := cache[r]; ok {
		return v
	}
	var buf sfnt.Buffer
	idx, err := font.GlyphIndex(&buf, r)
	v := err == nil && idx != 0
	cache[r] = v
	return v
}

func (f *Fonts) goHasBMP(r rune) bool { return r < 0x10000 && f.goBMP[r/64]&(1<<(r%64)) != 0 }

// allGo reports whether the Go fonts draw every character of s.
func (f *Fonts) allGo(s string) bool {
	for _, r := range s {
		if r >= 0x80 && !f.goHasBMP(r) {
			return false
		}
	}
	return true
}

// fontFor says which font draws r: "go", "fallback", or "" (with a
// warning) when no font has it: the caller draws a stand-in, since gofpdf
// cannot subset a glyph its font lacks.
func (f *Fonts) fontFor(r rune) string {
	if r < 0x80 || f.goHasBMP(r) {
		return "go"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r >= 0x10000 && has(f.goFont, f.goHas, r) {
		return "go"
	}
	if f.fbFont != nil && has(f.fbFont, f.fbHas, r) {
		return "fallback"
	}
	if !f.missing[r] {
		f.missing[r] = true
		hint := "install Debian's fonts-droid-fallback (" + DefaultFallbackFont + ") or set BILLING_PDF_FALLBACK_FONT to a .ttf that has it"
		if f.fbFont != nil {
			hint = "the fallback font " + f.fallbackPath + " lacks it too: set BILLING_PDF_FALLBACK_FONT to a .ttf that has it (e.g. a Noto font of its script), then `billing invoices render` the documents again"
		}
		f.log.Warn("no font has this character: it renders as '?'", "char", string(r), "code", fmt.Sprintf("U+%04X", r), "fix", hint)
	}
	return ""
}
