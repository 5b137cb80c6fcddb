"""The platform admin's Vendors page: who waits for verification, verifying, withdrawing."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from authserver.domain import vendors
from authserver.extensions import db
from authserver.models.applications import Vendor
from consent.forms import ConfirmForm
from consent.signin import current_user, signed_in_user
from consent.vendor_forms import WithdrawVerificationForm

bp = Blueprint("platform_vendors", __name__, url_prefix="/platform/vendors")


@bp.before_request
def _require_platform_admin() -> Response | None:
    user = current_user()
    if user is None:
        return redirect(url_for("auth.sign_in", next=request.full_path))
    if not user.is_platform_admin:
        abort(404)
    return None


def _vendor(vendor_id: int) -> Vendor:
    vendor = db.session.get(Vendor, vendor_id)
    if vendor is None:
        abort(404)
    return vendor


def _page(
    failed: WithdrawVerificationForm | None = None, failed_id: int | None = None
) -> tuple[str, int]:
    verified = vendors.verified_vendors()
    forms = {
        v.id: WithdrawVerificationForm(prefix=f"vendor-{v.id}", formdata=None) for v in verified
    }
    if failed is not None and failed_id is not None:
        forms[failed_id] = failed
    page = render_template(
        "platform/vendors.html",
        awaiting=vendors.awaiting_verification(),
        verified=verified,
        withdraw_forms=forms,
        form=ConfirmForm(),
        location_label=vendors.location_label,
        generative_ai_label=vendors.generative_ai_label,
    )
    return page, 400 if failed is not None else 200


@bp.get("")
def vendors_page() -> tuple[str, int]:
    """Vendors awaiting verification, with what they declared, and those verified."""
    return _page()


@bp.post("/<int:vendor_id>/verify")
def verify(vendor_id: int) -> Response:
    """Verify a vendor: its applications may ask real schools from now on."""
    vendor = _vendor(vendor_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if vendors.verify(vendor, by=signed_in_user()):
        db.session.commit()
        flash(f"{vendor.name} is verified: its applications may now ask schools.", "success")
    else:
        flash(f"{vendor.name} was already verified.", "info")
    return redirect(url_for("platform_vendors.vendors_page"))


@bp.post("/<int:vendor_id>/withdraw")
def withdraw(vendor_id: int) -> Response | tuple[str, int]:
    """Withdraw a vendor's verification, with the reason shown to it and to its schools."""
    vendor = _vendor(vendor_id)
    form = WithdrawVerificationForm(prefix=f"vendor-{vendor.id}")
    if form.validate_on_submit():
        try:
            vendors.withdraw_verification(vendor, by=signed_in_user(), reason=form.reason.data)
        except vendors.VendorDetailsError as refusal:
            db.session.rollback()
            form.reason.errors = [str(refusal)]
        else:
            db.session.commit()
            flash(
                f"{vendor.name}'s verification is withdrawn: its applications can ask real "
                "schools for nothing new. Connected schools are shown why.",
                "success",
            )
            return redirect(url_for("platform_vendors.vendors_page"))
    return _page(failed=form, failed_id=vendor.id)
