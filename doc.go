// Package stele holds the domain of the Stele audit log service: events, accounts,
// API keys, queries, the application errors every layer speaks, and the store
// interfaces the rest of the program depends on. It imports only the standard library.
package stele
