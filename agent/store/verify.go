package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/bits"
	"os"
)

// ErrDamaged is returned (wrapped, with the reason) by Verify for a file
// that bbolt cannot be trusted to open: opening it could fault (SIGBUS on a
// truncated file), panic (a bbolt assertion) or hand back wrong data.
var ErrDamaged = errors.New("store file is damaged")

// The bbolt v1.4 file format (go.etcd.io/bbolt/internal/common), as far as
// Verify reads it. Integers are in the host's byte order, as bbolt writes
// them.
const (
	boltMagic          = 0xED0CDAED
	boltVersion        = 2
	pageHeaderSize     = 16 // id u64, flags u16, count u16, overflow u32
	elementSize        = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHeaderSize   = 16 // root pgid u64, sequence u64
	metaChecksumOffset = 56 // magic, version, pageSize, flags u32; root bucket; freelist, pgid, txid u64
	metaSize           = metaChecksumOffset + 8

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10
	leafBucket   = 0x01

	noFreelist = ^uint64(0) // the freelist is not kept in the file
	maxDepth   = 64         // a B+tree this deep is not one bbolt wrote
)

var ne = binary.NativeEndian

// meta is a bbolt meta page's fields.
type meta struct {
	pageSize           uint32
	root, freelist     uint64
	pgid, txid         uint64
	magic, version     uint32
	checksum, computed uint64
}

func parseMeta(b []byte) meta {
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	h.Write(m[:metaChecksumOffset])
	return meta{
		magic: ne.Uint32(m[0:]), version: ne.Uint32(m[4:]), pageSize: ne.Uint32(m[8:]),
		root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]), pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:]),
		checksum: ne.Uint64(m[56:]), computed: h.Sum64(),
	}
}

// valid says whether a meta page is one bbolt would use, as bbolt's
// Meta.Validate does.
func (m meta) valid() bool {
	return m.magic == boltMagic && m.version == boltVersion && m.checksum == m.computed
}

// Verify checks a bbolt file with plain reads, never mapping it, so that a
// damaged file is found before bbolt opens it: the meta pages (magic,
// version, checksum), that the file holds every page up to the high-water
// mark in whole pages, the freelist, and the whole B+tree of buckets (page
// types, ids in range, every element inside its page and with a key, no
// page reachable twice, every page either reachable or free). It returns
// nil for a sound file and for a missing one (a fresh start), and an
// error wrapping ErrDamaged, saying what is wrong, for a damaged one.
//
// An empty (0-byte) file is damaged: bbolt writes its first four pages and
// syncs them before Open returns, so an agent.db of 0 bytes is one that
// held data and lost it (a file system that truncated it after a power
// cut), or, rarely, a first run that died within its first milliseconds.
// Either way the agent cannot show it is whole, so it says so.
func Verify(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("verify store %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("verify store %s: %w", path, err)
	}
	v := &verifier{f: f, size: fi.Size()}
	if err := v.run(); err != nil {
		if errors.Is(err, errIO) {
			return fmt.Errorf("verify store %s: %w", path, err)
		}
		return &damagedError{path: path, reason: err.Error()}
	}
	return nil
}

// damagedError is what Verify returns for a damaged file.
type damagedError struct{ path, reason string }

func (e *damagedError) Error() string        { return fmt.Sprintf("%v: %s: %s", ErrDamaged, e.path, e.reason) }
func (e *damagedError) Is(target error) bool { return target == ErrDamaged }

// errIO marks a read that failed for a reason other than the file's
// content (the disk, permissions): not evidence of damage.
var errIO = errors.New("read error")

type verifier struct {
	f        io.ReaderAt
	size     int64
	pageSize int64
	hwm      uint64
	seen     []uint8 // per page below hwm: 0 unseen, seenFree, seenUsed
}

const (
	seenFree = 1
	seenUsed = 2
)

func (v *verifier) run() error {
	if v.size == 0 {
		return errors.New("the file is empty (0 bytes)")
	}
	m, err := v.meta()
	if err != nil {
		return err
	}
	v.pageSize, v.hwm = int64(m.pageSize), m.pgid
	if v.size%v.pageSize != 0 {
		return fmt.Errorf("size %d is not a whole number of %d-byte pages (truncated?)", v.size, v.pageSize)
	}
	if m.pgid < 4 {
		return fmt.Errorf("meta: high-water mark %d is below the 4 pages of an empty file", m.pgid)
	}
	if pages := uint64(v.size / v.pageSize); pages < m.pgid {
		return fmt.Errorf("the file holds %d pages and its meta page says %d are in use (truncated)", pages, m.pgid)
	}
	for id := range uint64(2) { // bbolt's check reads both, valid or not, and asserts their headers
		var hdr [pageHeaderSize]byte
		if _, err := v.f.ReadAt(hdr[:], int64(id)*v.pageSize); err != nil {
			return fmt.Errorf("%w: meta page %d: %w", errIO, id, err)
		}
		if ne.Uint64(hdr[:]) != id || ne.Uint16(hdr[8:]) != flagMeta {
			return fmt.Errorf("meta page %d: its header says page %d, flags %#x", id, ne.Uint64(hdr[:]), ne.Uint16(hdr[8:]))
		}
	}
	v.seen = make([]uint8, m.pgid)
	v.seen[0], v.seen[1] = seenUsed, seenUsed
	if m.freelist != noFreelist {
		if err := v.freelist(m.freelist); err != nil {
			return err
		}
	}
	if err := v.tree(m.root, 0, nil); err != nil {
		return err
	}
	if m.freelist == noFreelist {
		return nil // free pages are not recorded: unreachable ones are free
	}
	for id, s := range v.seen {
		if s == 0 {
			return fmt.Errorf("page %d: neither reachable nor free", id)
		}
	}
	return nil
}

// meta finds the meta page bbolt would use: the valid one of the two with
// the higher transaction id. Like bbolt, it reads the page size from meta
// page 0, or, when that is damaged, looks for meta page 1 at each page
// size bbolt supports.
func (v *verifier) meta() (meta, error) {
	var buf [pageHeaderSize + metaSize]byte
	read := func(off int64) (meta, bool, error) {
		if off+int64(len(buf)) > v.size {
			return meta{}, false, nil
		}
		if _, err := v.f.ReadAt(buf[:], off); err != nil {
			return meta{}, false, fmt.Errorf("%w: %w", errIO, err)
		}
		m := parseMeta(buf[:])
		ok := m.valid() && ne.Uint16(buf[8:]) == flagMeta
		return m, ok, nil
	}
	m0, ok0, err := read(0)
	if err != nil {
		return meta{}, err
	}
	var pageSize int64
	if ok0 {
		pageSize = int64(m0.pageSize)
	} else {
		for i := range 15 {
			off := int64(1024) << i
			m1, ok1, err := read(off)
			if err != nil {
				return meta{}, err
			}
			if ok1 && int64(m1.pageSize) == off {
				pageSize = off
				break
			}
		}
	}
	if pageSize == 0 {
		return meta{}, errors.New("neither meta page is valid (bad magic, version or checksum)")
	}
	if pageSize < 1024 || pageSize > 1<<24 || bits.OnesCount64(uint64(pageSize)) != 1 {
		return meta{}, fmt.Errorf("meta: page size %d", pageSize)
	}
	m1, ok1, err := read(pageSize)
	if err != nil {
		return meta{}, err
	}
	if ok1 && int64(m1.pageSize) != pageSize {
		ok1 = false
	}
	if ok0 && int64(m0.pageSize) != pageSize {
		ok0 = false
	}
	m := m0
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		m = m1
	case !ok0 && !ok1:
		return meta{}, errors.New("neither meta page is valid")
	}
	if m.root < 2 || m.root >= m.pgid {
		return meta{}, fmt.Errorf("meta: root page %d is outside [2, %d)", m.root, m.pgid)
	}
	if m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.pgid) {
		return meta{}, fmt.Errorf("meta: freelist page %d is outside [2, %d)", m.freelist, m.pgid)
	}
	return m, nil
}

// page reads page id with its overflow pages and checks its header.
func (v *verifier) page(id uint64) ([]byte, error) {
	if id < 2 || id >= v.hwm {
		return nil, fmt.Errorf("page %d is outside [2, %d)", id, v.hwm)
	}
	var hdr [pageHeaderSize]byte
	if _, err := v.f.ReadAt(hdr[:], int64(id)*v.pageSize); err != nil {
		return nil, fmt.Errorf("%w: page %d: %w", errIO, id, err)
	}
	if got := ne.Uint64(hdr[:]); got != id {
		return nil, fmt.Errorf("page %d says it is page %d", id, got)
	}
	overflow := uint64(ne.Uint32(hdr[12:]))
	if id+overflow >= v.hwm {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the high-water mark %d", id, overflow, v.hwm)
	}
	b := make([]byte, int64(overflow+1)*v.pageSize)
	if _, err := v.f.ReadAt(b, int64(id)*v.pageSize); err != nil {
		return nil, fmt.Errorf("%w: page %d: %w", errIO, id, err)
	}
	return b, nil
}

// mark records pages id to id+overflow as seen, once.
func (v *verifier) mark(id uint64, p []byte, how uint8) error {
	n := uint64(len(p)) / uint64(v.pageSize)
	for i := range n {
		if v.seen[id+i] != 0 {
			return fmt.Errorf("page %d: referenced twice", id+i)
		}
		v.seen[id+i] = how
	}
	return nil
}

func (v *verifier) freelist(id uint64) error {
	p, err := v.page(id)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	if flags := ne.Uint16(p[8:]); flags != flagFreelist {
		return fmt.Errorf("freelist: page %d has flags %#x", id, flags)
	}
	if err := v.mark(id, p, seenUsed); err != nil {
		return err
	}
	start, count := uint64(pageHeaderSize), uint64(ne.Uint16(p[10:]))
	if count == 0xFFFF { // the count is in the first element
		count = ne.Uint64(p[pageHeaderSize:])
		start += 8
	}
	if count > (uint64(len(p))-start)/8 {
		return fmt.Errorf("freelist: %d page ids do not fit its %d bytes", count, len(p))
	}
	for i := range count {
		free := ne.Uint64(p[start+8*i:])
		if free < 2 || free >= v.hwm {
			return fmt.Errorf("freelist: free page %d is outside [2, %d)", free, v.hwm)
		}
		if v.seen[free] != 0 {
			return fmt.Errorf("freelist: page %d is free twice, or both free and in use", free)
		}
		v.seen[free] = seenFree
	}
	return nil
}

// tree checks the B+tree whose root is page id (or, with inline non-nil,
// the page stored inline in a bucket's value) and every bucket below it.
func (v *verifier) tree(id uint64, depth int, inline []byte) error {
	if depth > maxDepth {
		return fmt.Errorf("page %d: the tree is more than %d levels deep", id, maxDepth)
	}
	p := inline
	if p == nil {
		var err error
		if p, err = v.page(id); err != nil {
			return err
		}
		if v.seen[id] == seenFree {
			return fmt.Errorf("page %d: in use and free", id)
		}
		if err := v.mark(id, p, seenUsed); err != nil {
			return err
		}
	} else if len(p) < pageHeaderSize {
		return errors.New("an inline bucket is shorter than a page header")
	}
	flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
	if flags != flagBranch && flags != flagLeaf {
		return fmt.Errorf("page %d: flags %#x, want a branch or a leaf page", id, flags)
	}
	if pageHeaderSize+count*elementSize > len(p) {
		return fmt.Errorf("page %d: %d elements do not fit in %d bytes", id, count, len(p))
	}
	if flags == flagBranch && inline != nil {
		return errors.New("an inline bucket holds a branch page")
	}
	if flags == flagBranch && count == 0 {
		return fmt.Errorf("page %d: an empty branch page", id)
	}
	for i := range count {
		at := pageHeaderSize + i*elementSize
		e := p[at : at+elementSize]
		if flags == flagBranch {
			pos, ksize, child := uint64(ne.Uint32(e[0:])), uint64(ne.Uint32(e[4:])), ne.Uint64(e[8:])
			if uint64(at)+pos+ksize > uint64(len(p)) {
				return fmt.Errorf("page %d: branch element %d points past the page", id, i)
			}
			if ksize == 0 { // bbolt asserts that keys are not empty
				return fmt.Errorf("page %d: branch element %d has an empty key", id, i)
			}
			if err := v.tree(child, depth+1, nil); err != nil {
				return err
			}
			continue
		}
		eflags, pos, ksize, vsize := ne.Uint32(e[0:]), uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
		end := uint64(at) + pos + ksize + vsize
		if end > uint64(len(p)) {
			return fmt.Errorf("page %d: leaf element %d points past the page", id, i)
		}
		if ksize == 0 {
			return fmt.Errorf("page %d: leaf element %d has an empty key", id, i)
		}
		if eflags&leafBucket == 0 {
			continue
		}
		if inline != nil { // bbolt keeps a bucket inline only when it has no buckets
			return errors.New("an inline bucket holds a bucket")
		}
		val := p[end-vsize : end]
		if len(val) < bucketHeaderSize {
			return fmt.Errorf("page %d: bucket %d has a %d-byte header", id, i, len(val))
		}
		root := ne.Uint64(val)
		if root == 0 {
			if err := v.tree(id, depth+1, val[bucketHeaderSize:]); err != nil {
				return err
			}
			continue
		}
		if err := v.tree(root, depth+1, nil); err != nil {
			return err
		}
	}
	return nil
}
