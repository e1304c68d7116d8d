package ijson

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// badString says what keeps the string literal lit (quotes included, its
// syntax valid) from being I-JSON, or "": invalid UTF-8, an escaped
// surrogate that is not half of a pair, a noncharacter (RFC 7493 section
// 2.1). encoding/json would read the first two as U+FFFD.
func badString(lit []byte) string {
	for i := 1; i < len(lit)-1; i++ {
		c := lit[i]
		switch {
		case c == '\\':
			i++
			if lit[i] != 'u' {
				continue
			}
			if i+4 >= len(lit) {
				return "" // not JSON: the decoder says so
			}
			r := hex4(lit[i+1:])
			i += 4
			switch {
			case r >= 0xdc00 && r <= 0xdfff:
				return fmt.Sprintf(`the string has a lone surrogate (\u%04x)`, r)
			case r >= 0xd800 && r <= 0xdbff:
				if i+6 >= len(lit) || lit[i+1] != '\\' || lit[i+2] != 'u' {
					return fmt.Sprintf(`the string has a lone surrogate (\u%04x)`, r)
				}
				lo := hex4(lit[i+3:])
				if lo < 0xdc00 || lo > 0xdfff {
					return fmt.Sprintf(`the string has a lone surrogate (\u%04x)`, r)
				}
				r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
				i += 6
			}
			if noncharacter(r) {
				return fmt.Sprintf("the string has the noncharacter U+%04X", r)
			}
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(lit[i:])
			if r == utf8.RuneError && size == 1 {
				return "the string is not valid UTF-8"
			}
			if c >= 0xef && noncharacter(r) { // none is encoded in fewer bytes
				return fmt.Sprintf("the string has the noncharacter U+%04X", r)
			}
			i += size - 1
		}
	}
	return ""
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// noncharacter reports whether r is one of Unicode's 66 noncharacters:
// U+FDD0..U+FDEF and the last two code points of each plane.
func noncharacter(r rune) bool {
	return r >= 0xfdd0 && r <= 0xfdef || r&0xfffe == 0xfffe
}

// badNumber says what keeps the number literal lit (its syntax valid) from
// being I-JSON as auditkeep reads it, or "": a number beyond the range of an
// IEEE 754 double (1e400), one written with more precision than a double
// holds (9007199254740993 reads as 9007199254740992), and -0, which
// canonical JSON (RFC 8785) writes as 0. The ledger commits to a number as
// RFC 8785 writes its double, in the fewest digits that read back as it; a
// number is accepted only when its text has that decimal value (1.0, 1e2
// and 100 are all 100), so that the text stored and served says exactly
// what the ledger signed.
func badNumber(lit []byte) string {
	if exactInteger(lit) {
		return ""
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if ne, ok := err.(*strconv.NumError); ok && ne.Err != strconv.ErrRange {
		return "" // not JSON: the decoder says so
	}
	if err != nil {
		return fmt.Sprintf("the number %s is beyond the range of a double; send it as a string", lit)
	}
	if f == 0 && lit[0] == '-' && isZero(lit) {
		return fmt.Sprintf("the number %s is a negative zero; send 0", lit)
	}
	format := byte('g')
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		format = 'f' // as ECMAScript and RFC 8785 write it
	}
	short := strconv.AppendFloat(make([]byte, 0, 32), f, format, -1, 64)
	if !sameDecimal(lit, short) {
		return fmt.Sprintf("the number %s has more precision than a double holds (it would read as %s); send it as a string", lit, short)
	}
	return ""
}

// exactInteger reports whether lit is an integer of at most 15 digits,
// not -0: a double holds every such integer exactly.
func exactInteger(lit []byte) bool {
	d := lit
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 15 || d[0] == '0' && (len(d) > 1 || len(lit) > 1) {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isZero(lit []byte) bool {
	for _, c := range lit {
		if c == 'e' || c == 'E' {
			break
		}
		if c >= '1' && c <= '9' {
			return false
		}
	}
	return true
}

// sameDecimal reports whether the number literals a and b denote the same
// decimal value.
func sameDecimal(a, b []byte) bool {
	an, ad, ae, aok := decimal(a)
	bn, bd, be, bok := decimal(b)
	if !aok || !bok {
		return false
	}
	if len(ad) == 0 || len(bd) == 0 {
		return len(ad) == len(bd)
	}
	return an == bn && ae == be && string(ad) == string(bd)
}

// decimal returns the value of a number literal as 0.digits × 10^exp,
// digits without leading or trailing zeros (none for zero).
func decimal(lit []byte) (neg bool, digits []byte, exp int, ok bool) {
	i := 0
	if lit[0] == '-' {
		neg, i = true, 1
	}
	digits = make([]byte, 0, 24)
	point := -1
	for ; i < len(lit) && (lit[i] == '.' || lit[i] >= '0' && lit[i] <= '9'); i++ {
		if lit[i] == '.' {
			point = len(digits)
		} else {
			digits = append(digits, lit[i])
		}
	}
	if point < 0 {
		point = len(digits)
	}
	e := 0
	if i < len(lit) {
		var err error
		if e, err = strconv.Atoi(string(lit[i+1:])); err != nil || e > 1<<20 || e < -1<<20 {
			return false, nil, 0, isZero(lit)
		}
	}
	lead := 0
	for lead < len(digits) && digits[lead] == '0' {
		lead++
	}
	digits, point = digits[lead:], point-lead
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
	}
	return neg, digits, point + e, true
}
