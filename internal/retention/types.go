package retention

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stele-audit/stele"
)

// ParseAccountTypes returns the built-in account types with the days that
// spec overrides, spec being "free=30,team=90,…" (empty for none). A name
// that is not built in adds a type, with no ingest quota.
func ParseAccountTypes(spec string) ([]stele.AccountType, error) {
	types := slices.Clone(stele.DefaultAccountTypes)
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, days, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(strings.TrimSpace(days))
		name = strings.TrimSpace(name)
		if !ok || err != nil {
			return nil, &stele.Error{Code: stele.EINVALID,
				Message: fmt.Sprintf("account types are NAME=DAYS pairs separated by commas; not %q", part),
				Details: []stele.FieldError{{Field: "account_types", Rule: "format"}}}
		}
		i := slices.IndexFunc(types, func(t stele.AccountType) bool { return t.Name == name })
		if i < 0 {
			i = len(types)
			// Until configured, an added type has no ingest quota.
			types = append(types, stele.AccountType{Name: name, Ingest: stele.IngestQuota{BurstSeconds: stele.DefaultIngestBurstSeconds}})
		}
		types[i].RetentionDays = n
		if err := types[i].Validate(); err != nil {
			return nil, fmt.Errorf("account types: %w", err)
		}
	}
	return types, nil
}

// MaxRetentionDays bounds a retention: a hundred years.
const MaxRetentionDays = stele.MaxRetentionDays
