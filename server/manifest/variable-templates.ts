/**
 * Spin's `{{ variable }}` template syntax (spinframework/spin crates/expressions/src/template.rs), parsed at
 * load time only to check that every referenced variable exists; resolution happens in the host.
 */
import type { ManifestDiagnostics } from './manifest-diagnostics.js';
import { variableNameProblem } from './spin-ids.js';
import type { KeyPath } from './toml-locator.js';
import type { VariableDecl } from './types.js';

/** The outcome of scanning a template: the variable names it references, or why it is malformed. */
export type TemplateScan =
  | { readonly ok: true; readonly variables: readonly string[] }
  | { readonly ok: false; readonly problem: string };

/** Lists the variable names referenced by `template` (`{{ name }}`, whitespace trimmed), as Spin splits it. */
export function scanTemplate(template: string): TemplateScan {
  const variables: string[] = [];
  let rest = template;
  while (rest.length > 0) {
    const open = rest.indexOf('{{');
    if (open < 0) break;
    const afterOpen = rest.slice(open + 2);
    const close = afterOpen.indexOf('}}');
    // Spin rejects an unmatched '{{' rather than treating it as a literal.
    if (close < 0) return { ok: false, problem: `unmatched "{{" in template "${template}"` };
    variables.push(afterOpen.slice(0, close).trim());
    rest = afterOpen.slice(close + 2);
  }
  return { ok: true, variables };
}

/** Throws (naming `what` and the variable) unless every `{{ name }}` in `value` is a declared app variable. */
export function checkTemplateReferences(diag: ManifestDiagnostics, path: KeyPath, value: string, variables: Readonly<Record<string, VariableDecl>>, what: string): void {
  const scan = scanTemplate(value);
  if (!scan.ok) throw diag.invalid(path, scan.problem, 'Close each expression with "}}", e.g. "{{ api_token }}".');
  for (const name of scan.variables) {
    if (Object.hasOwn(variables, name)) continue;
    throw diag.invalid(
      path,
      `${what} refers to variable "${name}", which is not declared in [variables]`,
      `Declare it (e.g. [variables] ${variableNameProblem(name) === undefined ? name : 'my_var'} = { default = "..." } or = { required = true }) or fix the name.`,
    );
  }
}
