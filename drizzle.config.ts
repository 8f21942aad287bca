/** drizzle-kit's config: `npx drizzle-kit generate` writes migrations for `src/db/schema.ts` into `drizzle/`. */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/schema.ts",
  out: "./drizzle",
});
