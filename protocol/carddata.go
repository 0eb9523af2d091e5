package protocol

// ContainsCardData reports whether b holds payment-card magnetic stripe data
// anywhere: track 1, %B then a 12 to 19 digit card number, ^, a name of up
// to 26 characters, ^, and more data up to the end sentinel ?, at most 79
// characters in all; or track 2, ; then a 12 to 19 digit card number, =,
// digits (and the track 2 symbols : < = >) up to ?, at most 40 characters.
//
// The agent runs it on every payload before anything else, and refuses a
// match with a NAK or CodeCardData without logging or storing the bytes. It
// is a single pass with no allocation, and looks further only at a % or a
// ;, which ordinary baskets do not contain outside text. Track data without
// its start and end sentinels is not detected.
func ContainsCardData(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '%':
			if isTrack1(b[i:]) {
				return true
			}
		case ';':
			if isTrack2(b[i:]) {
				return true
			}
		}
	}
	return false
}

// Lengths of the ISO/IEC 7813 tracks.
const (
	minPAN        = 12
	maxPAN        = 19
	maxTrack1     = 79 // from % to ? inclusive
	maxTrack1Name = 26
	maxTrack2     = 40 // from ; to ? inclusive
)

// isTrack1 reports whether b starts with track 1 data.
func isTrack1(b []byte) bool {
	if len(b) < 2 || b[1] != 'B' {
		return false
	}
	i := 2 + digits(b[2:])
	if n := i - 2; n < minPAN || n > maxPAN || i >= len(b) || b[i] != '^' {
		return false
	}
	// The name: track 1 characters up to the second ^.
	name := i + 1
	for i = name; i < len(b) && b[i] != '^'; i++ {
		if i-name >= maxTrack1Name || !track1Char(b[i]) {
			return false
		}
	}
	if i >= len(b) {
		return false
	}
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

// track1Char reports whether c is in the 6-bit track 1 character set
// (space to _) and is not a sentinel.
func track1Char(c byte) bool { return 0x20 <= c && c <= 0x5f && c != '%' && c != '?' }

// isTrack2 reports whether b starts with track 2 data.
func isTrack2(b []byte) bool {
	i := 1 + digits(b[1:])
	if n := i - 1; n < minPAN || n > maxPAN || i >= len(b) || b[i] != '=' {
		return false
	}
	for i++; i < len(b) && i < maxTrack2; i++ {
		switch c := b[i]; {
		case c == '?':
			return true
		case '0' <= c && c <= '9', c == ':', c == '<', c == '=', c == '>':
		default:
			return false
		}
	}
	return false
}

// digits returns how many ASCII digits b starts with, counting at most
// maxPAN+1: enough to tell a card number's length is out of range.
func digits(b []byte) int {
	n := 0
	for n < len(b) && n <= maxPAN && '0' <= b[n] && b[n] <= '9' {
		n++
	}
	return n
}
