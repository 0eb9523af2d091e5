package protocol

import (
	"fmt"

	"golang.org/x/text/currency"
)

// MinorUnit returns the digits of an ISO 4217 currency's minor unit, in
// which every amount of the protocol is: 0 for JPY (1100 is ¥1,100), 2 for
// EUR (1100 is €11.00), 3 for KWD. It refuses a code that is not a
// currency.
func MinorUnit(code string) (int, error) {
	if !validCurrency(code) {
		return 0, fmt.Errorf("currency %q: want an ISO 4217 code of 3 uppercase letters, such as JPY or EUR", code)
	}
	u, err := currency.ParseISO(code)
	if err != nil {
		return 0, fmt.Errorf("currency %q: not an ISO 4217 currency", code)
	}
	digits, _ := currency.Standard.Rounding(u)
	return digits, nil
}
