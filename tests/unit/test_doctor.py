"""repo.doctor's judgement of bucket settings, on data: the policy shapes AWS accepts, ACLs, headers."""

import json

import pytest

from tasks import checks


def settings(**overrides):
    base = {"policy": None, "public_access_block": None, "acl_grants": [], "website": None,
            "index": {"ContentType": "application/x-yaml", "CacheControl": "max-age=60"}}
    return {**base, **overrides}


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements) if len(statements) > 1 else statements[0]})


def status(name, found):
    return next(c for c in checks.doctor(found) if c.name == name)


@pytest.mark.parametrize("statement, expected", [
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}, "fail"),
    ({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["s3:*"], "Resource": "*"}, "fail"),
    ({"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "*", "Resource": "*"}, "fail"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*",
      "Condition": {"StringEquals": {"aws:sourceVpce": "vpce-1"}}}, "pass"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*",
      "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}, "pass"),
    ({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}, "pass"),
    ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/ci"}, "Action": "s3:*",
      "Resource": "*"}, "pass"),
])
def test_bucket_policy_shapes(statement, expected):
    assert status("bucket policy", settings(policy=policy(statement))).status == expected


def test_a_restricted_statement_names_its_condition_keys():
    found = settings(policy=policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*",
                                    "Condition": {"StringEquals": {"aws:sourceVpce": "vpce-1"}}}))
    assert status("bucket policy", found).detail == "anonymous s3:GetObject only under a condition (aws:sourceVpce)"


def test_one_open_statement_among_restricted_ones_still_fails():
    found = settings(policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*",
         "Condition": {"StringEquals": {"aws:sourceVpce": "vpce-1"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}))
    assert status("bucket policy", found).status == "fail"


def test_no_policy_warns_that_only_iam_principals_can_read():
    assert status("bucket policy", settings()).status == "warn"


@pytest.mark.parametrize("block, expected", [
    (None, "warn"),
    ({"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": False},
     "warn"),
    ({"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True},
     "pass"),
])
def test_public_access_block(block, expected):
    assert status("public access block", settings(public_access_block=block)).status == expected


def test_acl_grants_to_everyone_or_any_aws_account_fail():
    grants = [{"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"},
               "Permission": "READ"},
              {"Grantee": {"Type": "CanonicalUser", "ID": "abc"}, "Permission": "FULL_CONTROL"}]
    check = status("bucket ACL", settings(acl_grants=grants))
    assert (check.status, check.detail) == ("fail", "public grants: READ to AuthenticatedUsers")


@pytest.mark.parametrize("headers, expected", [
    (None, "fail"),
    ({"ContentType": "application/x-yaml", "CacheControl": "max-age=60"}, "pass"),
    ({"ContentType": "application/x-yaml", "CacheControl": "max-age=86400"}, "warn"),
    ({"ContentType": "binary/octet-stream", "CacheControl": "max-age=60"}, "warn"),
    ({"ContentType": "application/x-yaml", "CacheControl": None}, "warn"),
])
def test_index_headers(headers, expected):
    assert status("index.yaml", settings(index=headers)).status == expected


def test_website_needs_an_index_document():
    assert status("website hosting", settings(website={"ErrorDocument": {"Key": "e.html"}})).status == "warn"
    assert status("website hosting", settings(website={"IndexDocument": {"Suffix": "index.html"}})).status == "pass"
