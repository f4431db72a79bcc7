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

/** PostgreSQL types (information_schema data_type) a Prisma scalar may be stored as. */
const COMPATIBLE: Record<string, string[]> = {
  String: ["text", "character varying", "uuid"],
  Int: ["integer"],
  BigInt: ["bigint"],
  Boolean: ["boolean"],
  DateTime: ["timestamp without time zone", "timestamp with time zone", "date"],
  Json: ["jsonb", "json"],
  Bytes: ["bytea"],
  Float: ["double precision"],
  Decimal: ["numeric"],
};

/** Every difference between schema.prisma and the database: missing tables, columns, enum values, wrong types. */
async function schemaDrift(pool: pg.Pool): Promise<string[]> {
  const { rows: columns } = await pool.query<{
    table_name: string;
    column_name: string;
    data_type: string;
    udt_name: string;
    is_nullable: "YES" | "NO";
  }>(
    `SELECT table_name, column_name, data_type, udt_name, is_nullable
       FROM information_schema.columns WHERE table_schema = current_schema()`,
  );
  const { rows: enumRows } = await pool.query<{ name: string; value: string }>(
    `SELECT t.typname AS name, e.enumlabel AS value FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
      ORDER BY t.typname, e.enumsortorder`,
  );
  const problems: string[] = [];
  const enumNames = new Set(dmmf.datamodel.enums.map((e) => e.dbName ?? e.name));
  for (const model of dmmf.datamodel.models) {
    const table = model.dbName ?? model.name;
    const tableColumns = columns.filter((c) => c.table_name === table);
    if (tableColumns.length === 0) {
      problems.push(`table "${table}" (model ${model.name}) is missing`);
      continue;
    }
    for (const field of model.fields.filter((f) => f.kind === "scalar" || f.kind === "enum")) {
      const name = field.dbName ?? field.name;
      const column = tableColumns.find((c) => c.column_name === name);
      if (!column) {
        problems.push(`column "${table}"."${name}" (${model.name}.${field.name}) is missing`);
        continue;
      }
      const where = `"${table}"."${name}"`;
      if (field.isList) {
        const base = field.kind === "enum" ? field.type : (COMPATIBLE[field.type] ?? [])[0];
        if (column.data_type !== "ARRAY") problems.push(`${where} should be an array of ${base}`);
      } else if (field.kind === "enum") {
        if (
          column.data_type !== "USER-DEFINED" ||
          !enumNames.has(column.udt_name) ||
          column.udt_name !== field.type
        ) {
          problems.push(
            `${where} should be the enum ${field.type}, is ${column.data_type} ${column.udt_name}`,
          );
        }
      } else if (!(COMPATIBLE[field.type] ?? []).includes(column.data_type)) {
        problems.push(`${where} is ${column.data_type}, not compatible with ${field.type}`);
      }
      // Prisma leaves list columns nullable; every other required field must be NOT NULL and vice versa.
      if (!field.isList && field.isRequired !== (column.is_nullable === "NO")) {
        problems.push(`${where} should be ${field.isRequired ? "NOT NULL" : "nullable"}`);
      }
    }
  }
  for (const prismaEnum of dmmf.datamodel.enums) {
    const name = prismaEnum.dbName ?? prismaEnum.name;
    const actual = enumRows.filter((r) => r.name === name).map((r) => r.value);
    const expected = prismaEnum.values.map((v) => v.dbName ?? v.name);
    if (actual.join(",") !== expected.join(",")) {
      problems.push(
        `enum ${name} has values [${actual.join(", ")}], schema.prisma says [${expected.join(", ")}]`,
      );
    }
  }
  return problems;
}

const t = useTestDatabase();

describe("migrations match schema.prisma", () => {
  it("every model's table and every field's column exist with a compatible type and nullability", async () => {
    expect(dmmf.datamodel.models.map((m) => m.name)).toEqual([
      "PlatformIntegration",
      "KeyVersion",
      "RotationRun",
    ]);
    expect(await schemaDrift(t.db.pool)).toEqual([]);
  });

  it("reports drift: a dropped column, a changed type, a missing enum value", async () => {
    const drifted = await createTestDatabase();
    try {
      await drifted.db.pool.query(`ALTER TABLE "RotationRun" DROP COLUMN "digestAfter"`);
      await drifted.db.pool.query(`ALTER TABLE "KeyVersion" ALTER COLUMN "version" TYPE text`);
      await drifted.db.pool.query(
        `ALTER TABLE "PlatformIntegration" ALTER COLUMN "displayName" DROP NOT NULL`,
      );
      await drifted.db.pool.query(`ALTER TYPE "Platform" ADD VALUE 'EBAY'`);
      expect(await schemaDrift(drifted.db.pool)).toEqual([
        `"PlatformIntegration"."displayName" should be NOT NULL`,
        `"KeyVersion"."version" is text, not compatible with Int`,
        `column "RotationRun"."digestAfter" (RotationRun.digestAfter) is missing`,
        "enum Platform has values [SHOPIFY, AMAZON, EBAY], schema.prisma says [SHOPIFY, AMAZON]",
      ]);
    } finally {
      await drifted.drop();
    }
  });
});
