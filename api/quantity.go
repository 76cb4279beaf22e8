package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"

	"gopkg.in/yaml.v3"
)

// Quantity is a Kubernetes resource quantity ("500m", "64Mi", "1.5", "2e3").
//
// Outpost does not use k8s.io/apimachinery's resource.Quantity. The outpost
// binary links that package anyway (through containerd), but api is the leaf
// every tool imports: with it, outpostctl grew from 7.42 to 8.03 MB (+0.6 MB,
// +8%, measured stripped for amd64) and api would pull in cbor, inf.v0 and
// sigs.k8s.io/json, for a type whose text and value this package needs
// exactly and whose API (Cmp, Add, MilliValue) it uses little of. This
// parser accepts the same grammar:
//
//	<quantity>        ::= <signedNumber><suffix>
//	<signedNumber>    ::= <number> | <sign><number>
//	<sign>            ::= "+" | "-"
//	<number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
//	<suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
//	<binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
//	<decimalSI>       ::= m | "" | k | M | G | T | P | E
//	<decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>
//
// The text is kept as written (it is what is hashed and shown); the value is
// exact (a rational), and Value/MilliValue round up like apimachinery's.
type Quantity struct {
	s string
	v *big.Rat
}

// ErrQuantity is wrapped by every quantity parse error.
var ErrQuantity = errors.New("invalid quantity")

// maxQuantityLen bounds the text so a hostile exponent cannot make us build huge numbers.
const maxQuantityLen = 64

// ParseQuantity parses s with the Kubernetes quantity grammar.
func ParseQuantity(s string) (Quantity, error) {
	if s == "" {
		return Quantity{}, fmt.Errorf("%w: empty", ErrQuantity)
	}
	if len(s) > maxQuantityLen {
		return Quantity{}, fmt.Errorf("%w: longer than %d characters", ErrQuantity, maxQuantityLen)
	}
	num, suffix := splitQuantity(s)
	r, ok := parseNumber(num)
	if !ok {
		return Quantity{}, fmt.Errorf("%w: %q is not a number", ErrQuantity, s)
	}
	mul, ok := suffixMultiplier(suffix)
	if !ok {
		return Quantity{}, fmt.Errorf("%w: %q has an unknown suffix %q", ErrQuantity, s, suffix)
	}
	r.Mul(r, mul)
	return Quantity{s: s, v: r}, nil
}

// MustParseQuantity is ParseQuantity for constants in code and tests.
func MustParseQuantity(s string) Quantity {
	q, err := ParseQuantity(s)
	if err != nil {
		panic(err)
	}
	return q
}

// splitQuantity cuts s after the longest prefix that can be a signed number.
func splitQuantity(s string) (num, suffix string) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
		i++
	}
	return s[:i], s[i:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseNumber accepts <signedNumber> exactly as the grammar does.
func parseNumber(s string) (*big.Rat, bool) {
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 || body == "" || body == "." {
		return nil, false
	}
	intPart, frac, _ := strings.Cut(body, ".")
	digits := intPart + frac
	for i := 0; i < len(digits); i++ {
		if !isDigit(digits[i]) {
			return nil, false
		}
	}
	n, _ := new(big.Int).SetString("0"+digits, 10)
	r := new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil))
	if neg {
		r.Neg(r)
	}
	return r, true
}

var binarySI = map[string]int64{"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
var decimalSI = map[string]int64{"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

// maxExponent bounds decimal exponents: 10^±64 covers every sensible quantity.
const maxExponent = 64

func suffixMultiplier(suffix string) (*big.Rat, bool) {
	if shift, ok := binarySI[suffix]; ok {
		return new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), uint(shift))), true
	}
	if exp, ok := decimalSI[suffix]; ok {
		return pow10(exp), true
	}
	if suffix[0] != 'e' && suffix[0] != 'E' {
		return nil, false
	}
	rest := suffix[1:]
	body := strings.TrimLeft(rest, "+-")
	if len(rest)-len(body) > 1 || body == "" || len(body) > 2 {
		return nil, false
	}
	exp := int64(0)
	for i := 0; i < len(body); i++ {
		if !isDigit(body[i]) {
			return nil, false
		}
		exp = exp*10 + int64(body[i]-'0')
	}
	if exp > maxExponent {
		return nil, false
	}
	if strings.HasPrefix(rest, "-") {
		exp = -exp
	}
	return pow10(exp), true
}

func pow10(exp int64) *big.Rat {
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(abs(exp)), nil)
	if exp < 0 {
		return new(big.Rat).SetFrac(big.NewInt(1), p)
	}
	return new(big.Rat).SetInt(p)
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// String returns the quantity as written.
func (q Quantity) String() string {
	if q.s == "" {
		return "0"
	}
	return q.s
}

// IsZero reports whether the quantity is unset or zero.
func (q Quantity) IsZero() bool { return q.v == nil || q.v.Sign() == 0 }

// Sign is -1, 0 or +1.
func (q Quantity) Sign() int {
	if q.v == nil {
		return 0
	}
	return q.v.Sign()
}

// Cmp compares q and o by value.
func (q Quantity) Cmp(o Quantity) int { return q.rat().Cmp(o.rat()) }

func (q Quantity) rat() *big.Rat {
	if q.v == nil {
		return new(big.Rat)
	}
	return q.v
}

// Value is the quantity rounded up to an integer (bytes for memory, cores for
// cpu), saturating at the int64 range.
func (q Quantity) Value() int64 { return ceilInt64(q.rat()) }

// MilliValue is the quantity in thousandths rounded up (millicores for cpu).
func (q Quantity) MilliValue() int64 {
	return ceilInt64(new(big.Rat).Mul(q.rat(), big.NewRat(1000, 1)))
}

func ceilInt64(r *big.Rat) int64 {
	n, rem := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if rem.Sign() > 0 {
		n.Add(n, big.NewInt(1))
	}
	if !n.IsInt64() {
		if n.Sign() > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return n.Int64()
}

// MarshalJSON writes the quantity as a string, as Kubernetes does.
func (q Quantity) MarshalJSON() ([]byte, error) { return json.Marshal(q.String()) }

// UnmarshalJSON reads a string or a number.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	} else {
		s = string(b)
	}
	p, err := ParseQuantity(s)
	if err != nil {
		return err
	}
	*q = p
	return nil
}

// UnmarshalYAML reads a quantity from a YAML scalar (string or number), so
// configuration files can hold quantities too.
func (q *Quantity) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%w: line %d: expected a quantity such as 128Mi", ErrQuantity, n.Line)
	}
	p, err := ParseQuantity(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*q = p
	return nil
}

// MarshalYAML writes the quantity as written.
func (q Quantity) MarshalYAML() (any, error) { return q.String(), nil }
