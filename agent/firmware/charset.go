package firmware

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
)

// charset is the text encoding of a model's payloads.
type charset struct {
	name  string // charsetUTF8 or charsetShiftJIS
	sjis  bool   // Shift_JIS (as Windows code page 932 extends it)
	ascii bool   // a 7-bit line: UTF-8 limited to ASCII
}

// unencodable is what charset.encode does with a character the charset
// cannot carry.
type unencodable uint8

const (
	refuse  unencodable = iota + 1 // fail
	replace                        // write "?"
	escape                         // write \uXXXX: the text is JSON, and non-ASCII is only inside its strings
)

// decode returns b as UTF-8 text, or an error naming the first byte that
// is not a character of the charset.
func (c charset) decode(b []byte) (string, error) {
	switch {
	case c.ascii:
		for i, x := range b {
			if x >= 0x80 {
				return "", fmt.Errorf("byte %d is %#02x: a 7-bit line carries ASCII only", i, x)
			}
		}
		return string(b), nil
	case !c.sjis:
		if !utf8.Valid(b) {
			return "", fmt.Errorf("byte %d is not valid UTF-8", invalidUTF8At(b))
		}
		return string(b), nil
	}
	if i, n := sjisInvalid(b); i >= 0 {
		return "", fmt.Errorf("byte %d (% x) is not a Shift_JIS character", i, b[i:i+n])
	}
	s, err := japanese.ShiftJIS.NewDecoder().String(string(b))
	if err != nil {
		return "", fmt.Errorf("not valid Shift_JIS: %v", err)
	}
	if !strings.ContainsRune(s, utf8.RuneError) {
		return s, nil
	}
	// Well formed but unassigned, such as 0x85 0x40: find which.
	dec := japanese.ShiftJIS.NewDecoder()
	for i := 0; i < len(b); {
		n := sjisLen(b[i])
		if r, _ := dec.Bytes(b[i : i+n]); strings.ContainsRune(string(r), utf8.RuneError) {
			return "", fmt.Errorf("byte %d (% x) is not a Shift_JIS character", i, b[i:i+n])
		}
		i += n
	}
	return "", fmt.Errorf("not valid Shift_JIS")
}

// sjisLen returns the length of the Shift_JIS character that starts with
// byte x: 2 for a lead byte, 1 otherwise.
func sjisLen(x byte) int {
	if 0x81 <= x && x <= 0x9f || 0xe0 <= x && x <= 0xfc {
		return 2
	}
	return 1
}

// sjisInvalid returns the position and length of the first sequence in b
// that is not well formed Shift_JIS, or -1: a byte that starts nothing
// (0x80, 0xa0, 0xfd to 0xff), or a lead byte without a valid second byte.
// Control bytes are always single bytes: a second byte is never below
// 0x40, nor 0x7f.
func sjisInvalid(b []byte) (at, n int) {
	for i := 0; i < len(b); i++ {
		x := b[i]
		switch {
		case x < 0x80 || 0xa1 <= x && x <= 0xdf:
		case sjisLen(x) == 2:
			if i+1 == len(b) {
				return i, 1
			}
			if y := b[i+1]; y < 0x40 || y == 0x7f || y > 0xfc {
				return i, 2
			}
			i++
		default:
			return i, 1
		}
	}
	return -1, 0
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// sjisLookalikes replaces characters that Shift_JIS cannot carry with the
// full-width forms Japanese terminals show for them: the yen sign of
// "¥300" becomes "￥300".
var sjisLookalikes = strings.NewReplacer(
	"\u00a5", "\uffe5", // ¥ ￥
	"\u00a2", "\uffe0", // ¢ ￠
	"\u00a3", "\uffe1", // £ ￡
	"\u00ac", "\uffe2", // ¬ ￢
	"\u203e", "\uffe3", // ‾ ￣
	"\u2212", "\uff0d", // − －
	"\u301c", "\uff5e", // 〜 ～
	"\u2016", "\u2225", // ‖ ∥
	"\u2014", "\u2015", // — ―
)

// encode returns the UTF-8 text s in the charset. A character the charset
// cannot carry is refused, replaced with "?" or escaped, as how says.
func (c charset) encode(s string, how unencodable) ([]byte, error) {
	switch {
	case c.sjis:
		s = sjisLookalikes.Replace(s)
		if b, err := japanese.ShiftJIS.NewEncoder().String(s); err == nil {
			if at, _ := sjisInvalid([]byte(b)); at < 0 {
				return []byte(b), nil
			}
		}
	case c.ascii:
		if !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 }) {
			return []byte(s), nil
		}
	default:
		return []byte(strings.ToValidUTF8(s, "\uFFFD")), nil
	}
	// Some characters need care: one at a time.
	enc := japanese.ShiftJIS.NewEncoder()
	out := make([]byte, 0, len(s)+8)
	for i, r := range s {
		if r < 0x80 {
			out = append(out, byte(r))
			continue
		}
		if c.sjis && r != utf8.RuneError {
			if b, err := enc.Bytes(utf8.AppendRune(nil, r)); err == nil {
				if at, _ := sjisInvalid(b); at < 0 {
					out = append(out, b...)
					continue
				}
			}
		}
		switch how {
		case replace:
			out = append(out, '?')
		case escape:
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
			} else {
				out = fmt.Appendf(out, `\u%04x`, r)
			}
		default:
			return nil, fmt.Errorf("character %U at byte %d cannot be written in %s", r, i, c.describe())
		}
	}
	return out, nil
}

// describe names the charset for errors.
func (c charset) describe() string {
	if c.ascii {
		return "ASCII (the line has 7 data bits)"
	}
	if c.sjis {
		return "Shift_JIS"
	}
	return "UTF-8"
}
