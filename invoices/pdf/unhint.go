package pdf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// unhinted returns a TrueType font without its hinting: the glyphs'
// instructions and the programs they call (fpgm, prep, cvt). Hinting
// snaps outlines to a screen's pixel grid; PDF viewers and printers draw
// the outlines, which stay as they are. In the Go fonts the instructions
// are half of the glyph data, so every document, which embeds its subset
// of the fonts, is a third smaller (SPEC §10: documents by the hundred
// thousand). The font is rewritten once, when the fonts are loaded.
func unhinted(ttf []byte) ([]byte, error) {
	be := binary.BigEndian
	if len(ttf) < 12 {
		return nil, errors.New("not a TrueType font")
	}
	n := int(be.Uint16(ttf[4:]))
	type table struct {
		tag  string
		data []byte
	}
	tables := map[string][]byte{}
	for i := range n {
		e := ttf[12+16*i:]
		off, size := int(be.Uint32(e[8:])), int(be.Uint32(e[12:]))
		if off+size > len(ttf) {
			return nil, fmt.Errorf("table %q beyond the file", e[:4])
		}
		tables[string(e[:4])] = ttf[off : off+size]
	}
	head, loca, glyf, maxp := tables["head"], tables["loca"], tables["glyf"], tables["maxp"]
	if head == nil || loca == nil || glyf == nil || maxp == nil {
		return nil, errors.New("not a TrueType font with glyph outlines")
	}
	long := be.Uint16(head[50:]) == 1
	count := int(be.Uint16(maxp[4:]))
	offset := func(i int) int {
		if long {
			return int(be.Uint32(loca[4*i:]))
		}
		return 2 * int(be.Uint16(loca[2*i:]))
	}

	var newGlyf []byte
	newLoca := make([]byte, 4*(count+1))
	for g := range count {
		be.PutUint32(newLoca[4*g:], uint32(len(newGlyf)))
		start, end := offset(g), offset(g+1)
		if end <= start {
			continue
		}
		d := glyf[start:end]
		contours := int(int16(be.Uint16(d)))
		if contours >= 0 {
			// A simple glyph: header, contour ends, instructions, points.
			at := 10 + 2*contours
			il := int(be.Uint16(d[at:]))
			newGlyf = append(newGlyf, d[:at]...)
			newGlyf = append(newGlyf, 0, 0)
			newGlyf = append(newGlyf, d[at+2+il:]...)
		} else {
			// A composite: its components, each without the flag that
			// says instructions follow the last.
			c := append([]byte(nil), d...)
			at := 10
			for {
				flags := be.Uint16(c[at:])
				be.PutUint16(c[at:], flags&^0x0100)
				at += 4
				if flags&0x0001 != 0 {
					at += 4
				} else {
					at += 2
				}
				switch {
				case flags&0x0008 != 0:
					at += 2
				case flags&0x0040 != 0:
					at += 4
				case flags&0x0080 != 0:
					at += 8
				}
				if flags&0x0020 == 0 {
					break
				}
			}
			newGlyf = append(newGlyf, c[:at]...)
		}
		for len(newGlyf)%4 != 0 {
			newGlyf = append(newGlyf, 0)
		}
	}
	be.PutUint32(newLoca[4*count:], uint32(len(newGlyf)))

	head = append([]byte(nil), head...)
	be.PutUint16(head[50:], 1) // long offsets in loca
	be.PutUint32(head[8:], 0)  // checkSumAdjustment, set below
	maxp = append([]byte(nil), maxp...)
	if len(maxp) >= 32 {
		for _, at := range []int{16, 18, 20, 22, 24} { // twilight points, storage, function and instruction definitions, stack
			be.PutUint16(maxp[at:], 0)
		}
		be.PutUint16(maxp[26:], 0) // maxSizeOfInstructions
	}
	tables["head"], tables["loca"], tables["glyf"], tables["maxp"] = head, newLoca, newGlyf, maxp
	for _, tag := range []string{"fpgm", "prep", "cvt ", "hdmx", "LTSH", "VDMX"} {
		delete(tables, tag)
	}

	var list []table
	for tag, data := range tables {
		list = append(list, table{tag, data})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].tag < list[j].tag })
	checksum := func(b []byte) uint32 {
		var sum uint32
		for i := 0; i < len(b); i += 4 {
			var w [4]byte
			copy(w[:], b[i:])
			sum += be.Uint32(w[:])
		}
		return sum
	}
	nt := len(list)
	out := make([]byte, 12+16*nt)
	be.PutUint32(out, 0x00010000)
	be.PutUint16(out[4:], uint16(nt))
	es, sel := 1, 0
	for es*2 <= nt {
		es, sel = es*2, sel+1
	}
	be.PutUint16(out[6:], uint16(es*16))
	be.PutUint16(out[8:], uint16(sel))
	be.PutUint16(out[10:], uint16(nt*16-es*16))
	headAt := 0
	for i, t := range list {
		e := out[12+16*i:]
		copy(e, t.tag)
		be.PutUint32(e[4:], checksum(t.data))
		be.PutUint32(e[8:], uint32(len(out)))
		be.PutUint32(e[12:], uint32(len(t.data)))
		if t.tag == "head" {
			headAt = len(out)
		}
		out = append(out, t.data...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	be.PutUint32(out[headAt+8:], 0xB1B0AFBA-checksum(out))
	return out, nil
}
