package offer

import (
	"hash/maphash"

	"github.com/posoffer/posoffer/protocol"
)

// MaxLines is the most lines a basket may have.
const MaxLines = 512

// lineSet is a set of basket line indexes. Iterate one as
//
//	for w := range set.words(n) {
//		for word := set[w]; word != 0; word &= word - 1 {
//			i := w<<6 + bits.TrailingZeros64(word)
type lineSet [MaxLines / 64]uint64

func (s *lineSet) add(i int) { s[i>>6] |= 1 << (i & 63) }

func (s *lineSet) or(o *lineSet) {
	for w := range s {
		s[w] |= o[w]
	}
}

// words is how many words hold the lines of a basket of n lines.
func (s *lineSet) words(n int) int { return (n + 63) >> 6 }

// Attribute kinds, for lineIndex keys.
const (
	kindSKU uint8 = iota
	kindCategory
	kindBrand
	kindCoupon
)

// keyOf is the hash of a name of a kind: the key of lineIndex slots and of
// the catalog's index.
func keyOf(kind uint8, name string) uint64 {
	return mix(kind, maphash.String(seed, name))
}

func mix(kind uint8, h uint64) uint64 { return h ^ uint64(kind+1)*0x9e3779b97f4a7c15 }

// lineIndex maps each SKU, category and brand of one basket to the set of
// its lines, so that a selector finds its lines with one lookup per name it
// lists, not one test per line. Names hash with the same seed as selector
// names, which carry their hashes.
type lineIndex struct {
	lines []protocol.Line
	slots []slot // open addressing, a power of two, at most half full
	sets  []lineSet
	keys  []uint64 // the key of every distinct name, for the catalog index
	all   lineSet
}

type slot struct {
	hash uint64
	kind uint8
	line int32 // a line holding the name; -1 for an empty slot
	set  int32
}

func (x *lineIndex) reset(lines []protocol.Line) {
	x.lines = lines
	n := 8
	for n < 6*len(lines) {
		n <<= 1
	}
	if cap(x.slots) < n {
		x.slots = make([]slot, n)
	}
	x.slots = x.slots[:n]
	for i := range x.slots {
		x.slots[i].line = -1
	}
	x.sets, x.keys = x.sets[:0], x.keys[:0]
	x.all = lineSet{}
	for i := range lines {
		l := &lines[i]
		x.all.add(i)
		x.insert(kindSKU, l.SKU, i)
		if l.Category != "" {
			x.insert(kindCategory, l.Category, i)
		}
		if l.Brand != "" {
			x.insert(kindBrand, l.Brand, i)
		}
	}
}

func name(l *protocol.Line, kind uint8) string {
	switch kind {
	case kindSKU:
		return l.SKU
	case kindCategory:
		return l.Category
	}
	return l.Brand
}

func (x *lineIndex) insert(kind uint8, s string, line int) {
	h := maphash.String(seed, s)
	mask := uint64(len(x.slots) - 1)
	for p := mix(kind, h) & mask; ; p = (p + 1) & mask {
		e := &x.slots[p]
		if e.line < 0 {
			*e = slot{hash: h, kind: kind, line: int32(line), set: int32(len(x.sets))}
			x.sets = append(x.sets, lineSet{})
			x.sets[e.set].add(line)
			x.keys = append(x.keys, mix(kind, h))
			return
		}
		if e.hash == h && e.kind == kind && name(&x.lines[e.line], kind) == s {
			x.sets[e.set].add(line)
			return
		}
	}
}

// find ORs into out the lines whose attribute of this kind is s.
func (x *lineIndex) find(kind uint8, s string, h uint64, out *lineSet) {
	mask := uint64(len(x.slots) - 1)
	for p := mix(kind, h) & mask; ; p = (p + 1) & mask {
		e := &x.slots[p]
		if e.line < 0 {
			return
		}
		if e.hash == h && e.kind == kind && name(&x.lines[e.line], kind) == s {
			out.or(&x.sets[e.set])
			return
		}
	}
}

// match returns the basket lines that sel matches.
func (x *lineIndex) match(sel *selector) lineSet {
	if sel.empty() {
		return x.all
	}
	var out lineSet
	for i, s := range sel.skus {
		x.find(kindSKU, s, sel.hskus[i], &out)
	}
	for i, s := range sel.categories {
		x.find(kindCategory, s, sel.hcategories[i], &out)
	}
	for i, s := range sel.brands {
		x.find(kindBrand, s, sel.hbrands[i], &out)
	}
	return out
}
