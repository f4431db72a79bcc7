/**
 * "1,200 of 2,000 rows re-encrypted", or, when the run rewrote more rows than the table holds
 * (rows the application wrote again under an older version are rotated again by a later sweep),
 * "2,058 rewrites for 2,000 rows (…)": never "2,058 of 2,000".
 */
export function reencryptedWords(rewrites: number, rows: number): string {
  if (rewrites <= rows) return `${rewrites} of ${rows} rows re-encrypted`;
  return (
    `${rewrites} rewrites for ${rows} rows re-encrypted (rows written again under an older version ` +
    "during the run were rotated again)"
  );
}
