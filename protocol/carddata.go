package protocol

// ContainsCardData reports whether b holds a payment card number anywhere,
// as magnetic stripe data or bare. It finds:
//
//   - Track 1 (ISO/IEC 7813 format B): %B, a 12 to 19 digit card number,
//     ^, a name of up to 26 characters, ^, more data and the end sentinel
//     ?, at most 79 characters; and the same without its sentinels or
//     with only one: B, the card number, ^, the name, ^ and at least the
//     four digits of the expiry date.
//   - Track 2: ;, a 12 to 19 digit card number, =, digits (and the track 2
//     symbols : < = >) up to ?, at most 40 characters; and the same
//     without its sentinels: a card number that passes the Luhn check, =,
//     and at least seven digits (expiry YYMM and service code).
//   - A bare card number: a run of 15 to 19 digits, not part of a longer
//     run of digits, that passes the Luhn check and starts with the issuer
//     number (IIN) of a card scheme (see cardScheme); or the same number
//     written in groups of four digits (Amex: 4-6-5) separated by single
//     spaces or dashes.
//
// Product codes are never taken for cards: GTIN-8, UPC-A (12 digits),
// EAN-13/JAN (13) and GTIN-14 are all shorter than 15 digits, and a GS1
// element string such as 01 + GTIN-14 starts with 0, which no card scheme
// uses. 12 to 14 digit card numbers (old 13-digit Visa, 14-digit Diners)
// are therefore found only in track data. A maximal run longer than 19
// digits is not a card number, and is not searched for one inside.
//
// Full-width digits (U+FF10 to U+FF19, as Japanese text often writes
// numbers) count as digits.
//
// The agent runs it on every payload before anything else, and refuses a
// match with a NAK or CodeCardData without logging, storing or forwarding
// the bytes. It is a single pass with no allocation, unless b holds
// full-width digits: then it looks again at a copy with ASCII digits.
func ContainsCardData(b []byte) bool {
	found, wide := containsCardData(b)
	if !found && wide {
		found, _ = containsCardData(narrowDigits(b))
	}
	return found
}

// Full-width digits in UTF-8: EF BC 90 (０) to EF BC 99 (９).
const wide0, wide1, wideLo, wideHi = 0xef, 0xbc, 0x90, 0x99

func isWideDigit(b []byte, i int) bool {
	return i+2 < len(b) && b[i] == wide0 && b[i+1] == wide1 && wideLo <= b[i+2] && b[i+2] <= wideHi
}

// narrowDigits returns a copy of b with full-width digits made ASCII.
func narrowDigits(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == wide0 && isWideDigit(b, i) {
			out = append(out, '0'+b[i+2]-wideLo)
			i += 2
			continue
		}
		out = append(out, b[i])
	}
	return out
}

// containsCardData is ContainsCardData on ASCII digits; wide reports
// whether b holds full-width digits too.
func containsCardData(b []byte) (found, wide bool) {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == wide0:
			wide = wide || isWideDigit(b, i)
		case c == '%':
			if isTrack1(b[i:]) {
				return true, wide
			}
		case c == ';':
			if isTrack2(b[i:]) {
				return true, wide
			}
		case c == 'B':
			if isBareTrack1(b[i:]) {
				return true, wide
			}
		case isDigit(c):
			n := 1
			for i+n < len(b) && isDigit(b[i+n]) {
				n++
			}
			if isBarePAN(b[i:i+n]) || isBareTrack2(b[i:], n) || n == 4 && isGroupedPAN(b[i:], b[:i]) {
				return true, wide
			}
			i += n - 1 // the run is done with
		}
	}
	return false, wide
}

// Lengths of the ISO/IEC 7813 tracks and of card numbers.
const (
	minPAN        = 12 // in track data
	maxPAN        = 19
	minBarePAN    = 15 // outside track data: longer than any GTIN
	maxTrack1     = 79 // from % to ? inclusive
	maxTrack1Name = 26
	maxTrack2     = 40 // from ; to ? inclusive
)

// isTrack1 reports whether b starts with track 1 data with its start and
// end sentinels.
func isTrack1(b []byte) bool {
	if len(b) < 2 || b[1] != 'B' {
		return false
	}
	i, ok := track1Head(b[1:])
	if !ok {
		return false
	}
	i++ // relative to b
	// Expiry, service code and discretionary data, up to ?.
	for i++; i < len(b) && i < maxTrack1; i++ {
		if b[i] == '?' {
			return true
		}
		if !track1Char(b[i]) || b[i] == '^' {
			return false
		}
	}
	return false
}

// isBareTrack1 reports whether b, starting with B, is track 1 data
// whatever its sentinels: B, the card number, ^, the name, ^, and the
// four digits of the expiry date.
func isBareTrack1(b []byte) bool {
	i, ok := track1Head(b)
	if !ok {
		return false
	}
	return i+4 < len(b) && isDigit(b[i+1]) && isDigit(b[i+2]) && isDigit(b[i+3]) && isDigit(b[i+4])
}

// track1Head reads B, a 12 to 19 digit card number, ^, a name of track 1
// characters and ^, at the start of b. It returns the index of the second
// ^, relative to b.
func track1Head(b []byte) (int, bool) {
	if len(b) < 1 || b[0] != 'B' {
		return 0, false
	}
	i := 1 + digits(b[1:])
	if n := i - 1; n < minPAN || n > maxPAN || i >= len(b) || b[i] != '^' {
		return 0, false
	}
	name := i + 1
	for i = name; i < len(b) && b[i] != '^'; i++ {
		if i-name >= maxTrack1Name || !track1Char(b[i]) {
			return 0, false
		}
	}
	return i, i < len(b)
}

// track1Char reports whether c is in the 6-bit track 1 character set
// (space to _) and is not a sentinel.
func track1Char(c byte) bool { return 0x20 <= c && c <= 0x5f && c != '%' && c != '?' }

// isTrack2 reports whether b starts with track 2 data with its start and
// end sentinels.
func isTrack2(b []byte) bool {
	i := 1 + digits(b[1:])
	if n := i - 1; n < minPAN || n > maxPAN || i >= len(b) || b[i] != '=' {
		return false
	}
	for i++; i < len(b) && i < maxTrack2; i++ {
		switch c := b[i]; {
		case c == '?':
			return true
		case isDigit(c), c == ':', c == '<', c == '=', c == '>':
		default:
			return false
		}
	}
	return false
}

// isBareTrack2 reports whether b, which starts with a maximal run of n
// digits, is track 2 data without its sentinels: a card number that passes
// the Luhn check, =, and at least seven digits.
func isBareTrack2(b []byte, n int) bool {
	if n < minPAN || n > maxPAN || n+8 > len(b) || b[n] != '=' || !luhn(b[:n]) {
		return false
	}
	for _, c := range b[n+1 : n+8] {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// isBarePAN reports whether run, a maximal run of digits, is a card
// number: 15 to 19 digits in a card scheme's IIN range, passing the Luhn
// check.
func isBarePAN(run []byte) bool {
	return len(run) >= minBarePAN && len(run) <= maxPAN && cardScheme(run) && luhn(run)
}

// isGroupedPAN reports whether b, which starts with a maximal run of four
// digits and follows before, is a card number written in groups: 4-4-4-4
// with an optional fifth group of 1 to 3 digits, 4-4-4-3, or Amex's
// 4-6-5, separated by the same single space or dash. The number stands
// alone: no letter or digit right after it or right before it, nor
// before a dash before it, so the groups of a UUID (hex, dashed, 8-4-4-4-12)
// are never taken for one.
func isGroupedPAN(b, before []byte) bool {
	if len(b) < 5 || b[4] != ' ' && b[4] != '-' {
		return false
	}
	sep := b[4]
	if n := len(before); n > 0 && (isAlnum(before[n-1]) || before[n-1] == '-' && n > 1 && isAlnum(before[n-2])) {
		return false
	}
	var (
		pan    [maxPAN]byte
		n      int
		groups [5]int
		ng     int
	)
	for i := 0; ; {
		g := digits(b[i:])
		if g == 0 || g > 6 || ng == len(groups) || n+g > maxPAN {
			return false
		}
		n += copy(pan[n:], b[i:i+g])
		groups[ng] = g
		ng++
		i += g
		if i+1 >= len(b) || b[i] != sep || !isDigit(b[i+1]) {
			if i < len(b) && isAlnum(b[i]) {
				return false
			}
			break
		}
		i++
	}
	switch {
	case ng == 3 && groups[1] == 6 && groups[2] == 5: // Amex
	case ng == 4 && groups[1] == 4 && groups[2] == 4 && (groups[3] == 4 || groups[3] == 3):
	case ng == 5 && groups[1] == 4 && groups[2] == 4 && groups[3] == 4 && groups[4] <= 3:
	default:
		return false
	}
	return isBarePAN(pan[:n])
}

// cardScheme reports whether a card number of len(pan) digits starts with
// the IIN of a scheme that issues cards of that length:
//
//	Visa 4; Mastercard 51-55 and 2221-2720; Mir 2200-2204; Maestro 50
//	and 56-59; Discover 6011, 644-649 and 65, UnionPay 62 and 81, RuPay
//	60, 65 and 82, Maestro 6 (all of 6 in short); JCB 3528-3589; Diners
//	Club 300-305, 3095, 36, 38 and 39; Troy 9792: 16 to 19 digits.
//	American Express 34 and 37: 15 digits.
//
// UATP (1) is left out: its numbers look like timestamps.
func cardScheme(pan []byte) bool {
	if len(pan) < 4 {
		return false
	}
	p2 := int(pan[0]-'0')*10 + int(pan[1]-'0')
	p3 := p2*10 + int(pan[2]-'0')
	p4 := p3*10 + int(pan[3]-'0')
	if p2 == 34 || p2 == 37 {
		return len(pan) == 15
	}
	if len(pan) < 16 {
		return false
	}
	switch {
	case pan[0] == '4', pan[0] == '6', pan[0] == '5':
		return true
	case 2200 <= p4 && p4 <= 2204, 2221 <= p4 && p4 <= 2720:
		return true
	case 300 <= p3 && p3 <= 305, p4 == 3095, p2 == 36, p2 == 38, p2 == 39, 3528 <= p4 && p4 <= 3589:
		return true
	case p2 == 81, p2 == 82, p4 == 9792:
		return true
	}
	return false
}

// luhn reports whether the digits pass the Luhn (mod 10) check.
func luhn(d []byte) bool {
	sum := 0
	for i := range d {
		v := int(d[len(d)-1-i] - '0')
		if i%2 == 1 {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlnum(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// digits returns how many ASCII digits b starts with, counting at most
// maxPAN+1: enough to tell a card number's length is out of range.
func digits(b []byte) int {
	n := 0
	for n < len(b) && n <= maxPAN && isDigit(b[n]) {
		n++
	}
	return n
}
