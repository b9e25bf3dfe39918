/* SPDX-License-Identifier: Apache-2.0 */
/* Imports a function from module "env": zlayer-wasm must refuse it. */
__attribute__((import_module("env"), import_name("foo"))) void foo(void);

int main(void) {
	foo();
	return 0;
}
