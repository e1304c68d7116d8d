package web

import (
	"math"
	"regexp"
	"strconv"
	"testing"
)

// luminance is the WCAG relative luminance of a #rrggbb colour.
func luminance(hex string) float64 {
	var c [3]float64
	for i := range c {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		x := float64(v) / 255
		if x <= 0.03928 {
			c[i] = x / 12.92
		} else {
			c[i] = math.Pow((x+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

// TestNonTextContrast checks WCAG 1.4.11 for the focus ring and the field
// borders: at least 3:1 against the white and the page background they
// sit on.
func TestNonTextContrast(t *testing.T) {
	css, err := staticFS.ReadFile("static/console.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range []struct{ what, re string }{
		{"focus ring", `focus-visible \{\s*outline: \d+px solid (#[0-9a-f]{6})`},
		{"field border", `input, select \{[^}]*border: 1px solid (#[0-9a-f]{6})`},
	} {
		m := regexp.MustCompile(rule.re).FindSubmatch(css)
		if m == nil {
			t.Fatalf("no %s colour in console.css (%s)", rule.what, rule.re)
		}
		for _, bg := range []string{"#ffffff", "#f6f7f9"} {
			if r := contrast(string(m[1]), bg); r < 3 {
				t.Errorf("%s %s on %s: contrast %.2f:1; want at least 3:1", rule.what, m[1], bg, r)
			}
		}
	}
}
