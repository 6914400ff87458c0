package gofpdf

// Caches for UTF-8 (TrueType) fonts shared by every Fpdf of the process
// (PATCHES.md, patch 1). Upstream parses the TTF in AddUTF8FontFromBytes,
// hashes its 65,536 widths as JSON for the font's id, and subsets, deflates
// and maps it again in Output, for every document: 34 times the cost of a
// document in the core fonts. Here a font's bytes are parsed once, and its
// subset is cut once per character set: the runes a document uses, rounded
// up to whole blocks of 8 code points (so that documents in the same
// scripts share one subset whatever their names spell), with the objects
// Output writes for it (font program, widths, CIDToGIDMap) kept ready.
//
// The cache is keyed by the identity of the font's byte slice (its first
// byte's address and its length): callers pass the same slice, from an
// embedded font or a file read once, for every document.

import (
	"crypto/sha256"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// utf8SubsetBlockBits is the size of a block of code points a subset
// holds whole: 1<<3 = 8. Blocks of 128 made a typical invoice half again
// as big (65 KB rather than 43 KB); at 8 the characters that names add
// still fall in few blocks, so the subsets stay few and are cut once.
const utf8SubsetBlockBits = 3

// utf8MaxCuts bounds the cache of subsets; beyond it an entry is dropped
// (cut again if asked for again).
const utf8MaxCuts = 4096

type utf8FontKey struct {
	first *byte
	size  int
}

// utf8Parsed is what AddUTF8FontFromBytes derives from a font's bytes;
// read-only once built.
type utf8Parsed struct {
	bytes []byte
	def   fontDefType // without Name, usedRunes
}

// utf8Cut is what Output writes for a font and a character set.
type utf8Cut struct {
	size       int         // the font program's length, uncompressed
	stream     []byte      // the font program, deflated
	widths     string      // the CIDFont's /W entry
	cidToGID   []byte      // the CIDToGIDMap stream, deflated
	sums       [2][32]byte // SHA-256 of stream and cidToGID (patch 5)
	usedRunes  map[int]int
	lastRune   int
	dictionary map[int]int
}

var utf8Cache = struct {
	sync.Mutex
	parsed map[utf8FontKey]*utf8Parsed
	cuts   map[utf8CutKey]*utf8Cut
}{parsed: map[utf8FontKey]*utf8Parsed{}, cuts: map[utf8CutKey]*utf8Cut{}}

// utf8CutKey is a font and the blocks of a subset of it.
type utf8CutKey struct {
	font   utf8FontKey
	blocks string
}

func keyOf(b []byte) utf8FontKey {
	if len(b) == 0 {
		return utf8FontKey{}
	}
	return utf8FontKey{&b[0], len(b)}
}

// parsedUTF8Font parses b once per process.
func parsedUTF8Font(b []byte) (*utf8Parsed, error) {
	k := keyOf(b)
	utf8Cache.Lock()
	defer utf8Cache.Unlock()
	if p, ok := utf8Cache.parsed[k]; ok {
		return p, nil
	}
	utf8File := newUTF8Font(&fileReader{readerPosition: 0, array: b})
	if err := utf8File.parseFile(); err != nil {
		return nil, err
	}
	def := fontDefType{
		Tp: "UTF8",
		Desc: FontDescType{
			Ascent:       int(utf8File.Ascent),
			Descent:      int(utf8File.Descent),
			CapHeight:    utf8File.CapHeight,
			Flags:        utf8File.Flags,
			FontBBox:     utf8File.Bbox,
			ItalicAngle:  utf8File.ItalicAngle,
			StemV:        utf8File.StemV,
			MissingWidth: round(utf8File.DefaultWidth),
		},
		Up:       int(round(utf8File.UnderlinePosition)),
		Ut:       round(utf8File.UnderlineThickness),
		Cw:       utf8File.CharWidths,
		utf8File: utf8File,
	}
	// The id hashes the widths: the same for every name the font is
	// added under.
	def.i, _ = generateFontID(def)
	p := &utf8Parsed{bytes: b, def: def}
	utf8Cache.parsed[k] = p
	return p, nil
}

// cutUTF8Font returns the subset of font for the blocks of the runes it
// used, cutting it the first time these blocks are asked for.
func (f *Fpdf) cutUTF8Font(font *fontDefType) *utf8Cut {
	b := font.utf8File.fileReader.array
	blocks := map[int]bool{}
	for r, v := range font.usedRunes {
		if r != 0 && v != 0 {
			blocks[r>>utf8SubsetBlockBits] = true
		}
	}
	ids := make([]int, 0, len(blocks))
	for id := range blocks {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var list strings.Builder
	for _, id := range ids {
		list.WriteString(strconv.Itoa(id) + ",")
	}
	key := utf8CutKey{keyOf(b), list.String()}
	utf8Cache.Lock()
	defer utf8Cache.Unlock()
	if c, ok := utf8Cache.cuts[key]; ok {
		return c
	}

	// Every rune of those blocks the font has a width for.
	used := map[int]int{}
	for _, id := range ids {
		for r := id << utf8SubsetBlockBits; r < (id+1)<<utf8SubsetBlockBits && r < len(font.Cw); r++ {
			if font.Cw[r] != 0 {
				used[r] = r
			}
		}
	}
	// A private parse: cutting moves the parser's state.
	utf8File := newUTF8Font(&fileReader{readerPosition: 0, array: b})
	if err := utf8File.parseFile(); err != nil {
		f.err = err
		return &utf8Cut{}
	}
	program := utf8File.GenerateCutFont(used)
	dictionary := utf8File.CodeSymbolDictionary
	delete(dictionary, 0)
	c := &utf8Cut{size: len(program), stream: sliceCompressBest(program), usedRunes: used,
		lastRune: utf8File.LastRune, dictionary: dictionary}

	// The widths, as upstream writes them, into a scratch Fpdf.
	scratch := &Fpdf{}
	shape := *font
	shape.usedRunes = used
	scratch.generateCIDFontMap(&shape, c.lastRune)
	c.widths = strings.TrimSuffix(scratch.buffer.String(), "\n")

	cidToGidMap := make([]byte, 256*256*2)
	for cc, glyph := range dictionary {
		cidToGidMap[cc*2] = byte(glyph >> 8)
		cidToGidMap[cc*2+1] = byte(glyph & 0xFF)
	}
	c.cidToGID = sliceCompressBest(cidToGidMap)
	c.sums = [2][32]byte{sha256.Sum256(c.stream), sha256.Sum256(c.cidToGID)}
	if len(utf8Cache.cuts) >= utf8MaxCuts {
		for k := range utf8Cache.cuts {
			delete(utf8Cache.cuts, k)
			break
		}
	}
	utf8Cache.cuts[key] = c
	return c
}
