# make test: every test, Go and JavaScript (the README's test command).
# go test -race needs gcc (cgo); the JS tests need Node 20+, npm, and for the
# browser test Debian's chromium (it skips, naming the package, without it).

JS := clients/js

.PHONY: test test-go test-js

test: test-go test-js

# The allocation tests run again without -race: the race detector adds
# allocations of its own and makes sync.Pool drop what it is given, so some
# of them can only count there (they skip under -race and say why).
test-go:
	go test -race ./...
	go test -count 1 -run Alloc ./...

test-js: $(JS)/node_modules/.package-lock.json
	cd $(JS) && npm test

# npm ci installs exactly the committed lockfile; rerun only when it changes.
$(JS)/node_modules/.package-lock.json: $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund
