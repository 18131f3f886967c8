// Package policy decides who may call the gateway and what they may use.
//
// A Policy is loaded from every *.yaml and *.yml file of a directory, merged.
// It is immutable once loaded: a reload builds a new Policy and swaps it in
// (see [Holder]), so a request keeps the Policy it started with.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Key is one API key: its policy id (the only name logs and metrics use) and
// the hash of its secret. The secret itself is never stored.
type Key struct {
	ID     string   `yaml:"id"`
	SHA256 string   `yaml:"sha256"`
	Models []string `yaml:"models,omitempty"` // globs; empty means every model

	hash [sha256.Size]byte
}

// Allows reports whether the key may use model. A key without a model list
// may use every model.
func (k *Key) Allows(model string) bool {
	if len(k.Models) == 0 {
		return true
	}
	for _, pattern := range k.Models {
		if Match(pattern, model) {
			return true
		}
	}
	return false
}

// Restricted reports whether the key has a model allowlist.
func (k *Key) Restricted() bool { return len(k.Models) > 0 }

// Policy is a loaded, validated set of keys. It is safe for concurrent use
// because it never changes after it is built.
type Policy struct {
	Keys    []*Key
	Version string // content hash of the files it was loaded from

	byHash map[[sha256.Size]byte]*Key
}

// Authenticate returns the key whose hash matches secret. Only hashes are
// compared: the secret is hashed first, so lookup time does not depend on how
// much of a stored secret a guess gets right.
func (p *Policy) Authenticate(secret string) (*Key, bool) {
	if secret == "" {
		return nil, false
	}
	k, ok := p.byHash[sha256.Sum256([]byte(secret))]
	return k, ok
}

// KeyByID returns the key with the given policy id.
func (p *Policy) KeyByID(id string) (*Key, bool) {
	for _, k := range p.Keys {
		if k.ID == id {
			return k, true
		}
	}
	return nil, false
}

// HashSecret returns the hex SHA-256 of a secret, as policy files store it.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// WithKey returns a copy of p that also accepts k. It fails if k's id or hash
// is already taken.
func (p *Policy) WithKey(k Key) (*Policy, error) {
	keys := append(append([]*Key(nil), p.Keys...), &k)
	return build(keys, p.Version)
}

func build(keys []*Key, version string) (*Policy, error) {
	p := &Policy{Keys: keys, Version: version, byHash: make(map[[sha256.Size]byte]*Key, len(keys))}
	ids := make(map[string]bool, len(keys))
	for _, k := range keys {
		if ids[k.ID] {
			return nil, fmt.Errorf("duplicate key id %q", k.ID)
		}
		ids[k.ID] = true
		raw, err := hex.DecodeString(k.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("key %q: sha256 must be 64 hex digits", k.ID)
		}
		copy(k.hash[:], raw)
		if other, dup := p.byHash[k.hash]; dup {
			return nil, fmt.Errorf("keys %q and %q have the same sha256", other.ID, k.ID)
		}
		p.byHash[k.hash] = k
	}
	return p, nil
}
