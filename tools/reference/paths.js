'use strict';
// paths.js - the command line every reference tool takes, --models DIR and
// --out DIR, and the repository they default into (lib.js and ort-lib.js
// re-export these).
const path = require('path');

function argValue(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const REPO = path.resolve(__dirname, '../..');
const MODELS = path.resolve(argValue('--models', path.join(REPO, 'models')));
const FIXTURES = path.resolve(argValue('--out', path.join(REPO, 'tests/fixtures')));

module.exports = { argValue, REPO, MODELS, FIXTURES };
