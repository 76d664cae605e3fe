/**
 * The TOML line locator finds where tables, keys and array elements are written, and says "unknown"
 * rather than guessing.
 */
import t from 'tap';
import { buildTomlLocator } from '../../server/manifest/toml-locator.js';

const DOC = `# comment = not a key
spin_manifest_version = 2

[application]
name = "x"   # trailing comment

[[trigger.http]]
route = "/a"
component = "a"

[[trigger.http]]
route = { private = true }
component = "b"
[trigger.http.executor]
type = "http"

[component."a.b"]
description = """
fake = "not a key"
[not.a.table]
"""
files = [
  "one",
  { source = "x", destination = "/y" },
]
source.url = "https://example.com"
`;

const locator = buildTomlLocator(DOC);

t.test('a table header is found at its line', async (t) => {
  t.equal(locator.exactLineOf(['application']), 4);
});

t.test('a key is found at its line, ignoring comments', async (t) => {
  t.equal(locator.exactLineOf(['application', 'name']), 5);
  t.equal(locator.exactLineOf(['spin_manifest_version']), 2);
});

t.test('the Nth array-of-tables entry and its keys are found', async (t) => {
  t.equal(locator.exactLineOf(['trigger', 'http', 0]), 7);
  t.equal(locator.exactLineOf(['trigger', 'http', 1]), 11);
  t.equal(locator.exactLineOf(['trigger', 'http', 1, 'component']), 13);
});

t.test('inline table keys are found on their line', async (t) => {
  t.equal(locator.exactLineOf(['trigger', 'http', 1, 'route', 'private']), 12);
});

t.test('a sub-table of an array entry belongs to the latest entry', async (t) => {
  t.equal(locator.exactLineOf(['trigger', 'http', 1, 'executor']), 14);
  t.equal(locator.exactLineOf(['trigger', 'http', 1, 'executor', 'type']), 15);
});

t.test('quoted keys and multi-line strings do not confuse it', async (t) => {
  t.equal(locator.exactLineOf(['component', 'a.b']), 17);
  t.equal(locator.exactLineOf(['component', 'a.b', 'fake']), undefined, 'text inside a multi-line string is not a key');
  t.equal(locator.exactLineOf(['not', 'a', 'table']), undefined, 'a header inside a string is not a table');
});

t.test('elements of a multi-line array are found on their own lines', async (t) => {
  t.equal(locator.exactLineOf(['component', 'a.b', 'files']), 22);
  t.equal(locator.exactLineOf(['component', 'a.b', 'files', 0]), 23);
  t.equal(locator.exactLineOf(['component', 'a.b', 'files', 1, 'destination']), 24);
});

t.test('dotted keys are found, and so are their prefixes', async (t) => {
  t.equal(locator.exactLineOf(['component', 'a.b', 'source', 'url']), 26);
  t.equal(locator.exactLineOf(['component', 'a.b', 'source']), 26);
});

t.test('a missing key falls back to its nearest written ancestor', async (t) => {
  t.equal(locator.exactLineOf(['application', 'version']), undefined);
  t.equal(locator.lineOf(['application', 'version']), 4);
  t.equal(locator.lineOf(['variables', 'x']), undefined, 'nothing written, no line');
});
