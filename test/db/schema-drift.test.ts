import { readFileSync } from "node:fs";
import { get_dmmf } from "@prisma/prisma-schema-wasm";
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { createTestDatabase, useTestDatabase } from "../support/database.js";

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: "scalar" | "enum" | "object" | "unsupported";
  type: string;
  isList: boolean;
  isRequired: boolean;
  nativeType?: [string, string[]] | null;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
}
interface DmmfEnum {
  name: string;
  dbName?: string | null;
  values: { name: string; dbName: string | null }[];
}

// Prisma's own parser (the schema engine's wasm build), so the test reads schema.prisma as Prisma does.
const dmmf = JSON.parse(
  get_dmmf(
    JSON.stringify({
      prismaSchema: readFileSync(new URL("../../prisma/schema.prisma", import.meta.url), "utf8"),
    }),
  ),
) as { datamodel: { models: DmmfModel[]; enums: DmmfEnum[] } };

/**
 * How PostgreSQL stores each Prisma scalar: information_schema `data_type` and `udt_name` pairs it
 * may have. A list of T is `ARRAY` with udt `_<udt of T>`.
 */
const COMPATIBLE: Record<string, { dataType: string; udt: string }[]> = {
  String: [
    { dataType: "text", udt: "text" },
    { dataType: "character varying", udt: "varchar" },
  ],
  Int: [{ dataType: "integer", udt: "int4" }],
  BigInt: [{ dataType: "bigint", udt: "int8" }],
  Boolean: [{ dataType: "boolean", udt: "bool" }],
  DateTime: [
    { dataType: "timestamp without time zone", udt: "timestamp" },
    { dataType: "timestamp with time zone", udt: "timestamptz" },
  ],
  Json: [{ dataType: "jsonb", udt: "jsonb" }],
  Bytes: [{ dataType: "bytea", udt: "bytea" }],
  Float: [{ dataType: "double precision", udt: "float8" }],
  Decimal: [{ dataType: "numeric", udt: "numeric" }],
};

/** Prisma Migrate's DateTime is TIMESTAMP(3) (milliseconds, as JavaScript Dates hold). */
const DATETIME_PRECISION = 3;

interface ColumnRow {
  table_name: string;
  column_name: string;
  data_type: string;
  udt_name: string;
  is_nullable: "YES" | "NO";
  datetime_precision: number | null;
}

interface DriftReport {
  /** Columns compared (one per scalar or enum field of every model found). */
  checkedColumns: number;
  /** Every difference between schema.prisma and the database, one line each; empty when in step. */
  problems: string[];
}

/** Compares the database behind `pool` with schema.prisma: tables, columns (type, nullability) and enums. */
async function schemaDrift(pool: pg.Pool): Promise<DriftReport> {
  const { rows: columns } = await pool.query<ColumnRow>(
    `SELECT table_name, column_name, data_type, udt_name, is_nullable, datetime_precision
       FROM information_schema.columns WHERE table_schema = current_schema()`,
  );
  const { rows: enumRows } = await pool.query<{ name: string; value: string }>(
    `SELECT t.typname AS name, e.enumlabel AS value
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
      WHERE t.typnamespace = current_schema()::regnamespace
      ORDER BY t.typname, e.enumsortorder`,
  );
  const enumDbName = new Map(dmmf.datamodel.enums.map((e) => [e.name, e.dbName ?? e.name]));
  const problems: string[] = [];
  let checkedColumns = 0;

  for (const model of dmmf.datamodel.models) {
    const table = model.dbName ?? model.name;
    const tableColumns = columns.filter((c) => c.table_name === table);
    if (tableColumns.length === 0) {
      problems.push(`table "${table}" (model ${model.name}) is missing`);
      continue;
    }
    for (const field of model.fields.filter((f) => f.kind === "scalar" || f.kind === "enum")) {
      const name = field.dbName ?? field.name;
      const where = `"${table}"."${name}"`;
      const column = tableColumns.find((c) => c.column_name === name);
      if (!column) {
        problems.push(`column ${where} (${model.name}.${field.name}) is missing`);
        continue;
      }
      checkedColumns++;
      if (field.nativeType) {
        // @db.X attributes change the expected type; teach this checker before using them.
        problems.push(`${where}: the checker does not know @db.${field.nativeType[0]}`);
        continue;
      }
      const expected =
        field.kind === "enum"
          ? [{ dataType: "USER-DEFINED", udt: enumDbName.get(field.type) ?? field.type }]
          : (COMPATIBLE[field.type] ?? []);
      if (expected.length === 0) {
        problems.push(`${where}: the checker does not know the Prisma type ${field.type}`);
        continue;
      }
      const actual = `${column.data_type} ${column.udt_name}`;
      const wanted = field.isList
        ? expected.map((e) => `ARRAY _${e.udt}`)
        : expected.map((e) => `${e.dataType} ${e.udt}`);
      if (!wanted.includes(actual)) {
        problems.push(`${where} is ${actual}, schema.prisma wants ${wanted.join(" or ")}`);
      } else if (
        field.type === "DateTime" &&
        !field.isList &&
        column.datetime_precision !== DATETIME_PRECISION
      ) {
        problems.push(`${where} has precision ${column.datetime_precision}, not ${DATETIME_PRECISION}`);
      }
      // Prisma Migrate leaves list columns nullable; any other field is NOT NULL exactly when required.
      if (!field.isList && field.isRequired !== (column.is_nullable === "NO")) {
        problems.push(`${where} should be ${field.isRequired ? "NOT NULL" : "nullable"}`);
      }
    }
  }

  for (const prismaEnum of dmmf.datamodel.enums) {
    const name = prismaEnum.dbName ?? prismaEnum.name;
    const actual = enumRows.filter((r) => r.name === name).map((r) => r.value);
    const expected = prismaEnum.values.map((v) => v.dbName ?? v.name);
    if (actual.length === 0) {
      problems.push(`enum ${name} is missing`);
    } else if (actual.join(",") !== expected.join(",")) {
      problems.push(
        `enum ${name} has values [${actual.join(", ")}], schema.prisma says [${expected.join(", ")}]`,
      );
    }
  }
  return { checkedColumns, problems };
}

/** Every column schema.prisma defines (scalar and enum fields of every model). */
const schemaColumnCount = dmmf.datamodel.models
  .flatMap((m) => m.fields)
  .filter((f) => f.kind === "scalar" || f.kind === "enum").length;

const t = useTestDatabase();

describe("the migrated database matches schema.prisma", () => {
  it("Prisma's parser reads the schema's models, fields and enums", () => {
    expect(dmmf.datamodel.models.map((m) => m.name)).toEqual(
      expect.arrayContaining(["PlatformIntegration", "KeyVersion", "RotationRun"]),
    );
    expect(dmmf.datamodel.enums.map((e) => e.name)).toEqual(
      expect.arrayContaining(["Platform", "KeyState", "RotationStatus"]),
    );
    const failedRowIds = dmmf.datamodel.models
      .find((m) => m.name === "RotationRun")
      ?.fields.find((f) => f.name === "failedRowIds");
    expect(failedRowIds).toMatchObject({ kind: "scalar", type: "String", isList: true });
  });

  it("every table, column (type, nullability) and enum value is there", async () => {
    const report = await schemaDrift(t.db.pool);
    expect(report.problems).toEqual([]);
    expect(report.checkedColumns).toBe(schemaColumnCount);
    expect(schemaColumnCount).toBeGreaterThan(40);
  });

  it("catches drift: dropped column, wrong type, precision, list type, nullability, enum values", async () => {
    const drifted = await createTestDatabase();
    try {
      const q = (sql: string) => drifted.db.pool.query(sql);
      await q(`ALTER TABLE "RotationRun" DROP COLUMN "digestAfter"`);
      await q(`ALTER TABLE "KeyVersion" ALTER COLUMN "version" TYPE bigint`);
      await q(`ALTER TABLE "KeyVersion" ALTER COLUMN "retiredAt" TYPE timestamp(6)`);
      await q(`ALTER TABLE "RotationRun" ALTER COLUMN "failedRowIds" DROP DEFAULT`);
      await q(`ALTER TABLE "RotationRun" ALTER COLUMN "failedRowIds" TYPE integer[] USING '{}'`);
      await q(`ALTER TABLE "PlatformIntegration" ALTER COLUMN "displayName" DROP NOT NULL`);
      await q(`ALTER TABLE "PlatformIntegration" ALTER COLUMN "platform" TYPE text`);
      await q(`ALTER TYPE "RotationStatus" ADD VALUE 'PAUSED'`);

      const report = await schemaDrift(drifted.db.pool);
      expect(report.problems).toEqual([
        `"PlatformIntegration"."platform" is text text, schema.prisma wants USER-DEFINED Platform`,
        `"PlatformIntegration"."displayName" should be NOT NULL`,
        `"KeyVersion"."version" is bigint int8, schema.prisma wants integer int4`,
        `"KeyVersion"."retiredAt" has precision 6, not 3`,
        `"RotationRun"."failedRowIds" is ARRAY _int4, schema.prisma wants ARRAY _text or ARRAY _varchar`,
        `column "RotationRun"."digestAfter" (RotationRun.digestAfter) is missing`,
        "enum RotationStatus has values [RUNNING, SUCCEEDED, FAILED_WITH_ROWS, PAUSED], schema.prisma says [RUNNING, SUCCEEDED, FAILED_WITH_ROWS]",
      ]);
      expect(report.checkedColumns).toBe(schemaColumnCount - 1);

      // A whole table and a whole enum gone.
      await q(`DROP TABLE "PlatformIntegration"`);
      await q(`DROP TYPE "Platform"`);
      expect((await schemaDrift(drifted.db.pool)).problems).toEqual(
        expect.arrayContaining([
          `table "PlatformIntegration" (model PlatformIntegration) is missing`,
          "enum Platform is missing",
        ]),
      );
    } finally {
      await drifted.drop();
    }
  });
});
