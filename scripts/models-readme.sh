#!/usr/bin/env bash
# Regenerate the table and plots of models/README.md from the models themselves
# (`sparrow models models --svg models/pareto-`), between its table markers.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SPARROW_CJS:-dist/sparrow.cjs}
table=$(node "$S" models models --svg models/pareto- | grep -v '^wrote ')
node -e '
const fs = require("fs");
const [file, table] = [process.argv[1], process.argv[2]];
const s = fs.readFileSync(file, "utf8");
const a = s.indexOf("<!-- table:"), b = s.indexOf("<!-- end table -->");
if (a < 0 || b < a) { console.error(`${file}: no table markers`); process.exit(2); }
const head = s.slice(0, s.indexOf("\n", a) + 1);
fs.writeFileSync(file + ".part", head + table + "\n" + s.slice(b));
fs.renameSync(file + ".part", file);
' models/README.md "$table"
echo "models-readme: table and plots regenerated"
