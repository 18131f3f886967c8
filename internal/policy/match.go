package policy

// Match reports whether name matches the glob pattern, where '*' matches any
// run of characters (including '/' and ':', which model ids and ARNs contain)
// and '?' matches one character. Matching is case-sensitive, as model ids are.
func Match(pattern, name string) bool {
	// Iterative wildcard matching with one backtrack point: linear in
	// practice, never exponential.
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
