/** `npm run dashboards`: writes dashboards/json/<name>.json from the TypeScript definitions. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderDashboards } from "./src/index.js";

const dir = join(import.meta.dirname, "json");
mkdirSync(dir, { recursive: true });
for (const [name, text] of Object.entries(renderDashboards())) {
  writeFileSync(join(dir, `${name}.json`), text);
  console.log(`dashboards/json/${name}.json`);
}
