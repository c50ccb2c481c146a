"""The avatar CDN stack through the CloudFront API: moto's CloudFormation models no CloudFront type.

``cdk deploy`` of the CDN stack fails on the emulator (every resource is skipped and the output's
``Fn::GetAtt`` on the distribution fails), so the rehearsal creates the stack's resources one by
one through the service APIs, from the template's resolved properties:

* ``AWS::CloudFront::OriginAccessControl`` -> CreateOriginAccessControl (same shape);
* ``AWS::CloudFront::Distribution`` -> CreateDistribution: CloudFormation's shape translated to
  the API's (``Quantity``/``Items`` lists, ``CallerReference``), nothing added or dropped except
  ``ResponseHeadersPolicyId`` (moto has no response-headers-policy API; see SKIPPED);
* ``AWS::S3::BucketPolicy`` -> PutBucketPolicy (the bucket's one policy, naming the distribution).
"""

from __future__ import annotations


def _items(values: list) -> dict:
    return {"Quantity": len(values), "Items": list(values)}


def origin_access_control_config(props: dict) -> dict:
    return dict(props["OriginAccessControlConfig"])


def distribution_config(props: dict, caller_reference: str) -> dict:
    """The API's DistributionConfig for CloudFormation's (ResponseHeadersPolicyId already removed
    by the harness, which names it: its resource is SKIPPED)."""
    cfn = props["DistributionConfig"]
    origins = []
    for origin in cfn["Origins"]:
        api_origin = {"Id": origin["Id"], "DomainName": origin["DomainName"]}
        if "OriginAccessControlId" in origin:
            api_origin["OriginAccessControlId"] = origin["OriginAccessControlId"]
        if "S3OriginConfig" in origin:
            api_origin["S3OriginConfig"] = {
                "OriginAccessIdentity": origin["S3OriginConfig"].get("OriginAccessIdentity", "")}
        origins.append(api_origin)
    behavior = cfn["DefaultCacheBehavior"]
    api_behavior = {
        "TargetOriginId": behavior["TargetOriginId"],
        "ViewerProtocolPolicy": behavior["ViewerProtocolPolicy"],
        "AllowedMethods": {**_items(behavior["AllowedMethods"]),
                           "CachedMethods": _items(behavior["CachedMethods"])},
        "CachePolicyId": behavior["CachePolicyId"],
        "Compress": behavior.get("Compress", False),
    }
    if "ResponseHeadersPolicyId" in behavior:
        raise ValueError("ResponseHeadersPolicyId: moto has no response-headers-policy API")
    config = {
        "CallerReference": caller_reference,
        "Comment": cfn.get("Comment", ""),
        "Enabled": cfn["Enabled"],
        "Origins": _items(origins),
        "DefaultCacheBehavior": api_behavior,
        "HttpVersion": cfn.get("HttpVersion", "http2"),
        "IsIPV6Enabled": cfn.get("IPV6Enabled", False),
        "PriceClass": cfn.get("PriceClass", "PriceClass_All"),
    }
    return config
