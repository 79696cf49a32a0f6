package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/stele-audit/stele"
)

// proofHashesQuery reads, in one statement and so one read transaction,
// the stored tree nodes named in ?1 ([[level, idx], ...]) and the leaf
// hashes (of events, or kept of purged ones) of the seq ranges in ?2 ([[from, to], ...]), each by primary key:
// CROSS JOIN keeps the JSON lists the outer loops (SQLite would otherwise
// scan the account's rows and look each up in the list).
const proofHashesQuery = `
SELECT t.level, t.idx, t.hash FROM json_each(?1) AS j
	CROSS JOIN tree_nodes AS t ON t.account_id = ?3 AND t.level = json_extract(j.value, '$[0]') AND t.idx = json_extract(j.value, '$[1]')
UNION ALL
SELECT -1, e.seq, e.leaf_hash FROM json_each(?2) AS j
	CROSS JOIN events AS e ON e.account_id = ?3 AND e.seq >= json_extract(j.value, '$[0]') AND e.seq < json_extract(j.value, '$[1]')
UNION ALL
SELECT -1, p.seq, p.leaf_hash FROM json_each(?2) AS j
	CROSS JOIN purged_events AS p ON p.account_id = ?3 AND p.seq >= json_extract(j.value, '$[0]') AND p.seq < json_extract(j.value, '$[1]')`

// ProofHashes returns, in one query, the account's stored tree nodes at the
// (Level, Index) of nodes, and as nodes of level 0 the leaf hashes of the
// seq ranges [from, to) of leaves. What is not stored is left out. A proof
// reads its few dozen hashes this way instead of one query each.
func (db *DB) ProofHashes(ctx context.Context, accountID int64, nodes []stele.TreeNode, leaves [][2]int64) (found, leafHashes []stele.TreeNode, err error) {
	want := make([][2]int64, len(nodes))
	for i, n := range nodes {
		want[i] = [2]int64{int64(n.Level), n.Index}
	}
	nj, _ := json.Marshal(want)
	if leaves == nil {
		leaves = [][2]int64{}
	}
	lj, _ := json.Marshal(leaves)
	rows, err := db.reader.QueryContext(ctx, proofHashesQuery, string(nj), string(lj), accountID)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: proof hashes: %w", mapErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			level int
			n     stele.TreeNode
			h     []byte
		)
		if err := rows.Scan(&level, &n.Index, &h); err != nil {
			return nil, nil, fmt.Errorf("sqlite: proof hashes: %w", err)
		}
		if len(h) != 32 {
			return nil, nil, fmt.Errorf("sqlite: proof hashes: hash of %d bytes", len(h))
		}
		n.Hash = [32]byte(h)
		if level < 0 {
			leafHashes = append(leafHashes, n)
		} else {
			n.Level = level
			found = append(found, n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("sqlite: proof hashes: %w", mapErr(err))
	}
	return found, leafHashes, nil
}
