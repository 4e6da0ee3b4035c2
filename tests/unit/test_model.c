/*
 * Unit tests: the broker's vocabulary (base/model.c): which user, pool and
 * VM names are valid.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"

/* Every name libvirt accepts for a QEMU domain is a VM name vmgate serves. */
static void test_vm_names_as_libvirt_allows_them(void **state)
{
    char longest[VG_VM_NAME_MAX + 2];
    (void)state;

    assert_true(vg_vm_name_valid("vm1"));
    assert_true(vg_vm_name_valid("Windows 11 (dev)"));
    assert_true(vg_vm_name_valid("\xc3\xbc"
                                 "n"
                                 "\xc3\xaf"
                                 "code")); /* ünïcode */
    assert_true(vg_vm_name_valid("\xe6\xb5\x8b\xe8\xaf\x95"
                                 " vm")); /* 测试 vm */
    assert_true(vg_vm_name_valid("-starts-with-a-dash"));
    assert_true(vg_vm_name_valid("6f1c3a52-4b7e-4d2a-9f3e-0a1b2c3d4e5f")); /* a UUID */
    assert_true(vg_vm_name_valid("quotes ' \" & <tags> $x `y` ; | \\"));
    assert_true(vg_vm_name_valid("tab\there"));
    assert_true(vg_vm_name_valid("\x7f"
                                 "del"));

    assert_false(vg_vm_name_valid(NULL));
    assert_false(vg_vm_name_valid(""));
    assert_false(vg_vm_name_valid("a/b"));        /* libvirt: no '/' */
    assert_false(vg_vm_name_valid("two\nlines")); /* libvirt: no newline */
    assert_false(vg_vm_name_valid("bell\a"));     /* not in XML 1.0 */
    assert_false(vg_vm_name_valid("\xc3"));       /* cut UTF-8 */
    assert_false(vg_vm_name_valid("\xff\xfe"));   /* not UTF-8 */
    assert_false(vg_vm_name_valid("\xc0\xaf"));   /* overlong '/' */

    memset(longest, 'x', VG_VM_NAME_MAX);
    longest[VG_VM_NAME_MAX] = '\0';
    assert_true(vg_vm_name_valid(longest));
    longest[VG_VM_NAME_MAX] = 'x';
    longest[VG_VM_NAME_MAX + 1] = '\0';
    assert_false(vg_vm_name_valid(longest));
}

/* User and pool names keep the strict rule. */
static void test_user_names_stay_strict(void **state)
{
    (void)state;
    assert_true(vg_name_valid("a.b_c@d-e9"));
    assert_false(vg_name_valid("Windows 11"));
    assert_false(vg_name_valid("-alice"));
    assert_false(vg_name_valid("\xc3\xbc"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vm_names_as_libvirt_allows_them),
        cmocka_unit_test(test_user_names_stay_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
