package demo

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

var firstNames = []string{
	"Ada", "Alan", "Grace", "Linus", "Barbara", "Dennis", "Margaret", "Ken", "Frances", "Edsger",
	"Radia", "Donald", "Katherine", "Niklaus", "Hedy", "Tim", "Sophie", "John", "Mary", "Bjarne",
	"Shafi", "Leslie", "Anita", "Guido", "Karen", "Rob", "Jean", "Yukihiro", "Carol", "Ivan",
	"Priya", "Mateo", "Amara", "Lars", "Chen", "Fatima", "Diego", "Ingrid", "Kwame", "Noor",
	"Hiroshi", "Elena", "Oluwaseun", "Aisha", "Tomasz", "Camille", "Rafael", "Mei", "Sanjay", "Zoe",
}

var lastNames = []string{
	"Lovelace", "Turing", "Hopper", "Martin", "Liskov", "Ritchie", "Hamilton", "Thompson", "Allen", "Dijkstra",
	"Perlman", "Knuth", "Johnson", "Wirth", "Lamarr", "Berners-Lee", "Wilson", "McCarthy", "Keller", "Stroustrup",
	"Goldwasser", "Lamport", "Borg", "van Rossum", "Jones", "Pike", "Bartik", "Matsumoto", "Shaw", "Sutherland",
	"Raman", "Garcia", "Okafor", "Nilsson", "Wei", "Haddad", "Fernandez", "Larsen", "Mensah", "Rahman",
	"Tanaka", "Petrova", "Adeyemi", "Khan", "Nowak", "Dubois", "Costa", "Lin", "Gupta", "Clarke",
}

// Roles a member of an account may hold, as the console knows them.
const (
	roleOwner   = "owner"
	roleAdmin   = "admin"
	roleAuditor = "auditor"
	roleMember  = "member"
)

var browserAgents = []string{
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.6; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
}

var toolAgents = []string{
	"curl/8.5.0",
	"Terraform/1.9.8 terraform-provider-stele/0.4.1",
	"Go-http-client/2.0",
	"python-requests/2.32.3",
	"stele-sdk-go/0.3.0",
}

var attackAgents = []string{
	"python-requests/2.31.0",
	"curl/7.68.0",
	"Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.169 Safari/537.36",
	"Go-http-client/1.1",
	"Hydra/9.5",
}

// Address ranges. Attacks come from the documentation ranges and a few
// ranges that often show up in real credential-stuffing reports.
var (
	homePrefixes   = [][3]int{{73, 0, 0}, {86, 0, 0}, {24, 0, 0}, {98, 0, 0}, {81, 0, 0}, {109, 0, 0}}
	attackPrefixes = [][3]int{{203, 0, 113}, {198, 51, 100}, {192, 0, 2}, {185, 220, 101}, {45, 155, 205}, {91, 240, 118}}
	attackCountry  = []string{"RU", "CN", "KP", "BR", "NL", "RO", "VN"}
)

// ipv4 formats a.b.c.d without fmt.
func ipv4(a, b, c, d int) string {
	var buf [15]byte
	out := strconv.AppendInt(buf[:0], int64(a), 10)
	out = append(out, '.')
	out = strconv.AppendInt(out, int64(b), 10)
	out = append(out, '.')
	out = strconv.AppendInt(out, int64(c), 10)
	out = append(out, '.')
	out = strconv.AppendInt(out, int64(d), 10)
	return string(out)
}

func homeIP(r *rand.Rand) string {
	p := homePrefixes[r.IntN(len(homePrefixes))]
	return ipv4(p[0], 1+r.IntN(250), r.IntN(256), 1+r.IntN(254))
}

func attackIP(r *rand.Rand) string {
	p := attackPrefixes[r.IntN(len(attackPrefixes))]
	return ipv4(p[0], p[1], p[2], 1+r.IntN(254))
}

// emailLocal makes "ada.lovelace" out of "Ada", "Lovelace".
func emailLocal(first, last string) string {
	s := strings.ToLower(first + "." + last)
	return strings.NewReplacer(" ", "", "-", "").Replace(s)
}

const hexDigits = "0123456789abcdef"

// hexID returns prefix followed by n random hex digits.
func hexID(r *rand.Rand, prefix string, n int) string {
	buf := make([]byte, len(prefix)+n)
	copy(buf, prefix)
	for i := len(prefix); i < len(buf); {
		v := r.Uint64()
		for k := 0; k < 16 && i < len(buf); k++ {
			buf[i] = hexDigits[v&15]
			v >>= 4
			i++
		}
	}
	return string(buf)
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }
