"""导入导出: upload items, parties or demand history as .xlsx (all rows or none, with a report of
every bad row), download a template for each, and the links to every list's .xlsx export.

The checks live in the operations (models.operations.masterdata_import, demand_import); this page
reads the upload within the size limit and shows the report.
"""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.forms import checked, request_key
from console.settings import _context
from console.settings_export import EXPORTS, send_xlsx
from console.web import call, error_page, member_page, read_db, render
from exports.xlsx import Column, Sheet, workbook
from models.errors import DomainError, ValidationError
from models.operations.demand_import import ImportDemand, ImportRejected, import_demand
from models.operations.masterdata_import import (
    KIND_LABELS,
    MAX_BYTES,
    MAX_ROWS,
    ImportKind,
    ImportMasterData,
    import_master_data,
    template,
)

#: Upload kinds: the two master-data kinds and demand history (planning's import).
KINDS: dict[str, str] = {**{k.value: v for k, v in KIND_LABELS.items()}, "demand": "需求历史"}
_DEMAND_TEMPLATE = (["商品编码", "地点编码", "日期", "数量", "类型"],
                    [("商品编码", "必填", "如 CQ"), ("地点编码", "必填", "如 MD"),
                     ("日期", "必填", "年-月-日；按周导入时改列名为“周”，填周一的日期"),
                     ("数量", "必填", "不小于 0"), ("类型", "选填", "销售、退货 或 赠送；不填按销售")])


def _page(**extra: object) -> ResponseReturnValue:
    # A refused file is an answer, not a broken page: 200 with the report (the API answers 422).
    # A 4xx here would be logged by the browser as a failed load on every refused upload.
    return render("console/imports.html", **_context(
        kinds=KINDS, exports=EXPORTS, max_mb=MAX_BYTES // (1024 * 1024), max_rows=MAX_ROWS, **extra))


@bp.get("/imports")
@member_page()
def imports() -> ResponseReturnValue:
    return _page()


@bp.post("/imports/<kind>")
@member_page()
def imports_upload(kind: str) -> ResponseReturnValue:
    if kind not in KINDS:
        return error_page("NOT_FOUND", "没有这种导入", 404)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(kind=kind, failure="请选择要上传的 .xlsx 文件")
    content = upload.read(MAX_BYTES + 1)  # never read more than the limit into memory
    dry_run = checked("dry_run")
    try:
        if len(content) > MAX_BYTES:
            raise ValidationError(f"文件不能超过 {MAX_BYTES // (1024 * 1024)}MB", field="file")
        if kind == "demand":
            result = call(import_demand, ImportDemand(content, upload.filename[:200], dry_run), key=request_key())
            report = {"rows_total": result.rows_total, "rows_valid": result.rows_valid, "errors": []}
        else:
            done = call(import_master_data, ImportMasterData(ImportKind(kind), content, upload.filename[:200],
                                                             dry_run), key=request_key())
            report = done.to_dict()
    except ImportRejected as rejected:
        return _page(kind=kind, failure=rejected.message, report=_rows_of(rejected.details.get("report", {})))
    except DomainError as refused:  # a file that cannot be read, a missing permission: said on the page
        return _page(kind=kind, failure=f"{refused.message}（{refused.code}）")
    read_db().rollback()
    message = (f"检查通过：{report['rows_valid']} 行都没有问题，尚未写入" if dry_run
               else f"已导入 {report['rows_valid']} 行{KINDS[kind]}")
    return _page(kind=kind, success=message)


def _rows_of(report: dict[str, object]) -> dict[str, object]:
    """The rejected file's report as the page lists it: one line per bad row and column."""
    errors = report.get("errors") or []
    lines = []
    for e in errors if isinstance(errors, list) else []:
        if "column" in e:  # master data: row, column, message
            lines.append({"rows": [e["row"]], "column": e["column"], "message": e["message"]})
        else:  # demand: a kind of error with the rows it was found in
            lines.append({"rows": list(e.get("rows", []))[:20], "column": "", "message": e.get("message", "")})
    return {"lines": lines, "more": report.get("more_errors", 0), "rows_total": report.get("rows_total", 0)}


@bp.get("/imports/<kind>/template.xlsx")
@member_page()
def imports_template(kind: str) -> ResponseReturnValue:
    if kind not in KINDS:
        return error_page("NOT_FOUND", "没有这种导入", 404)
    header, notes = _DEMAND_TEMPLATE if kind == "demand" else template(ImportKind(kind))
    sheets = [Sheet(KINDS[kind], [Column(h) for h in header], []),
              Sheet("填写说明", [Column("列"), Column("必填/选填"), Column("怎么填")], [list(n) for n in notes])]
    return send_xlsx(workbook(sheets), f"{KINDS[kind]}导入模板.xlsx")
